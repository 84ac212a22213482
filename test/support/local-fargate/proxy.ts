/**
 * The HTTP front of the local Fargate, on 127.0.0.1: ECS task-lifecycle calls are answered by EcsTaskApi, a
 * RegisterTaskDefinition is checked against Fargate's limits and then passed on, every other request (any service)
 * goes to moto unchanged. It also serves what a Fargate task reaches at 169.254.170.2 on AWS: the task metadata
 * endpoint v4 and the task role's credentials, under /local-fargate/.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EcsTaskApi } from "./ecs-api.js";
import { EcsError } from "./ecs-errors.js";
import { containerMetadata, taskMetadata } from "./metadata.js";

const ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113.";

/** Dates as epoch seconds, as the JSON 1.1 protocol carries timestamps. */
function wire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(wire);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, wire(v)]),
    );
  }
  return value;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = "application/json",
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export interface ProxyOptions {
  motoEndpoint: string;
  api: EcsTaskApi;
  roleCredentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
}

export class LocalFargateProxy {
  private server?: Server;
  private readonly moto: URL;

  constructor(private readonly options: ProxyOptions) {
    this.moto = new URL(options.motoEndpoint);
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) sendJson(res, 500, { __type: "ServerException", message: err.message });
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? "/";
    if (url.startsWith("/local-fargate/")) return this.serveTaskEndpoints(url, res);
    const target = String(req.headers["x-amz-target"] ?? "");
    if (target.startsWith(ECS_TARGET_PREFIX)) {
      const operation = target.slice(ECS_TARGET_PREFIX.length);
      let input: Record<string, unknown> = {};
      try {
        input = body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {};
      } catch {
        return sendJson(res, 400, { __type: "SerializationException", message: "body is not JSON" });
      }
      try {
        if (operation === "RegisterTaskDefinition") this.options.api.checkRegistration(input);
        if (this.options.api.handles(operation, input)) {
          const out = await this.options.api.call(operation, input);
          return sendJson(res, 200, wire(out), "application/x-amz-json-1.1");
        }
      } catch (err) {
        if (err instanceof EcsError)
          return sendJson(res, err.status, JSON.parse(err.body()), "application/x-amz-json-1.1");
        throw err;
      }
    }
    await this.forward(req, body, res);
  }

  /** Passes a request to moto as it came and streams the answer back. */
  private forward(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    return new Promise((resolve, reject) => {
      const upstream = request(
        {
          hostname: this.moto.hostname,
          port: this.moto.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, "content-length": String(body.length) },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on("end", () => resolve());
          answer.on("error", reject);
        },
      );
      upstream.on("error", reject);
      upstream.end(body);
    });
  }

  /** `/local-fargate/v4/<task id>/<container>[/task]` and `/local-fargate/credentials/<task id>`. */
  private serveTaskEndpoints(url: string, res: ServerResponse): void {
    const [status, doc] = this.taskEndpoint(url);
    sendJson(res, status, doc);
  }

  private taskEndpoint(url: string): [number, unknown] {
    const parts = url.split("?")[0]!.split("/").filter(Boolean).slice(1);
    const runtime = [...this.options.api.tasks.values()].find((r) => r.id === parts[1]);
    if (!runtime) return [404, { message: "task not found" }];
    if (parts[0] === "credentials") {
      const { accessKeyId, secretAccessKey, sessionToken } = this.options.roleCredentials;
      return [
        200,
        {
          AccessKeyId: accessKeyId,
          SecretAccessKey: secretAccessKey,
          Token: sessionToken,
          Expiration: new Date(Date.now() + 3_600_000).toISOString(),
          RoleArn: runtime.definitionTaskRole ?? "",
        },
      ];
    }
    if (parts[0] === "v4" && parts[2]) {
      if (parts[3] === "task") return [200, taskMetadata(runtime)];
      const container = containerMetadata(runtime, parts[2]);
      if (container) return [200, container];
    }
    return [404, { message: "not found" }];
  }
}
