/**
 * Fault injection below the SDK's retry layer: an HTTP handler wrapping the real one that answers chosen
 * operations with throttling, a 5xx, or a timeout (before the request reaches moto, or after moto has
 * processed it and the answer is "lost"), or with a canned body. Because it sits where the network would,
 * what the SDK's standard retry mode does with each fault is exactly what it would do against AWS.
 */
import { Readable } from "node:stream";
import { type HttpRequest, HttpResponse } from "@smithy/core/transport";
import { NodeHttpHandler } from "@smithy/node-http-handler";

export type FaultKind =
  | "throttle"
  | "server-error"
  | "timeout"
  | "timeout-after-processing"
  | "canned"
  | "error";

export interface Fault {
  /** Operation name from X-Amz-Target, e.g. "RunTask", "PutItem", "TransactWriteItems", "GetParameter". */
  operation: string;
  kind: FaultKind;
  /** How many matching requests it hits. */
  times: number;
  /** For "canned": HTTP 200 with this JSON body; for "error": HTTP 400 with it (`__type`, `message`). */
  body?: unknown;
  /** Only requests whose body contains this string. */
  bodyIncludes?: string;
}

function operationOf(request: HttpRequest): string {
  const target = request.headers["x-amz-target"] ?? request.headers["X-Amz-Target"] ?? "";
  return target.split(".").pop() ?? "";
}

/** The body as text. Not Buffer.from(body): that calls valueOf(), which the SDK's JSON body adapter warns about. */
function bodyText(body: unknown): string {
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array)
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  return "";
}

function jsonResponse(statusCode: number, body: unknown): { response: HttpResponse } {
  return {
    response: new HttpResponse({
      statusCode,
      headers: { "content-type": "application/x-amz-json-1.1" },
      body: Readable.from([Buffer.from(JSON.stringify(body))]),
    }),
  };
}

function timeoutError(): Error {
  const err = new Error("simulated socket timeout");
  err.name = "TimeoutError";
  return err;
}

export class FaultInjectingHandler {
  readonly metadata = { handlerProtocol: "http/1.1" };
  private readonly faults: Fault[] = [];
  /** Requests seen per operation (each SDK attempt counts). */
  readonly calls = new Map<string, number>();
  /** Faults actually injected, per operation and kind. */
  readonly injected: string[] = [];
  /** Bodies of the requests of operations named in `record`. */
  readonly recorded: { operation: string; body: string }[] = [];
  readonly record = new Set<string>();

  constructor(private readonly inner = new NodeHttpHandler()) {}

  inject(...faults: Fault[]): void {
    this.faults.push(...faults.map((f) => ({ ...f })));
  }

  clear(): void {
    this.faults.length = 0;
    this.calls.clear();
    this.injected.length = 0;
    this.recorded.length = 0;
  }

  pending(): Fault[] {
    return this.faults.filter((f) => f.times > 0);
  }

  async handle(
    request: HttpRequest,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ response: HttpResponse }> {
    const operation = operationOf(request);
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    const body = bodyText(request.body);
    if (this.record.has(operation)) this.recorded.push({ operation, body });
    const fault = this.faults.find(
      (f) => f.times > 0 && f.operation === operation && (!f.bodyIncludes || body.includes(f.bodyIncludes)),
    );
    if (!fault) return this.inner.handle(request, options);
    fault.times--;
    this.injected.push(`${operation}:${fault.kind}`);
    switch (fault.kind) {
      case "throttle":
        return jsonResponse(400, { __type: "ThrottlingException", message: "Rate exceeded" });
      case "server-error":
        return jsonResponse(500, { __type: "InternalServerError", message: "simulated 500" });
      case "timeout":
        throw timeoutError();
      case "timeout-after-processing":
        await this.inner.handle(request, options);
        throw timeoutError();
      case "canned":
        return jsonResponse(200, fault.body ?? {});
      case "error":
        return jsonResponse(400, fault.body ?? {});
    }
  }

  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
  destroy(): void {
    this.inner.destroy();
  }
}
