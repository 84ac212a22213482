/**
 * Fault injection at every AWS call site of the webhook: a proxy in front of moto answers chosen
 * operations (by X-Amz-Target) with throttling, 5xx or silence, and otherwise forwards. Each fault is
 * either retried away, dead-lettered, or (when nothing can keep the events) answered 503 with the
 * dedupe claim released, so GitLab's resend is processed: nothing is lost silently.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebhookHandler } from "../../src/webhook/app.js";
import { createWebhookDependencies } from "../../src/webhook/runtime.js";
import { jobHook } from "./fixtures/payloads.js";
import { MemoryLog } from "./support/fakes.js";
import { createMotoWorld, drainQueue, type MotoWorld } from "./support/moto-world.js";
import { functionUrlEvent } from "./support/requests.js";

const { createServer, request } = process.getBuiltinModule("node:http");

type Fault = "throttle" | "server-error" | "hang";
/** operation (e.g. "PutEvents") → faults to inject, one per request, in order. */
const faults = new Map<string, Fault[]>();
const injected: string[] = [];
const motoEndpoint = new URL(process.env.AWS_ENDPOINT_URL!);

function inject(fault: Fault, res: ServerResponse) {
  if (fault === "hang") return; // the client's timeout must fire
  const [status, type] = fault === "throttle" ? [400, "ThrottlingException"] : [500, "InternalFailure"];
  res
    .writeHead(status, { "content-type": "application/x-amz-json-1.1" })
    .end(JSON.stringify({ __type: type, message: "injected" }));
}

const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
  const operation =
    String(req.headers["x-amz-target"] ?? "")
      .split(".")
      .pop() ?? "";
  const fault = faults.get(operation)?.shift();
  if (fault) {
    injected.push(`${operation}:${fault}`);
    req.resume();
    return inject(fault, res);
  }
  const upstream = request(
    {
      hostname: motoEndpoint.hostname,
      port: motoEndpoint.port,
      path: req.url,
      method: req.method,
      headers: req.headers,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  req.pipe(upstream);
});

let world: MotoWorld;
let proxyEndpoint = "";

beforeAll(async () => {
  world = await createMotoWorld();
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  proxyEndpoint = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

function handlerWithFaults(log = new MemoryLog()) {
  const env = { ...world.env, AWS_ENDPOINT_URL: proxyEndpoint };
  // Short per-attempt timeout so "hang" faults cost milliseconds, not seconds.
  const deps = () => {
    const d = createWebhookDependencies(env, log, { timeoutMs: 300, baseDelayMs: 5 });
    d.publishOptions = { baseDelayMs: 5 };
    return d;
  };
  return { handler: createWebhookHandler(deps, { info() {}, warn() {}, error() {} } as never), log };
}

async function deliverPending(jobId: number, idempotencyKey: string) {
  const { handler, log } = handlerWithFaults();
  const body = JSON.stringify(jobHook("pending", { build_id: jobId }));
  const response = await handler(functionUrlEvent(body, Date.now(), { idempotencyKey }));
  return { status: response.statusCode, log };
}

async function pendingJobIds(expected: number): Promise<number[]> {
  return (await drainQueue(world.sqs, world.queues.pending, expected)).map(
    (m) => JSON.parse(m.Body!).detail.jobId,
  );
}

describe("fault injection at every AWS call site", () => {
  it.each([
    ["GetParameters", "throttle"],
    ["GetParameters", "server-error"],
    ["GetParameters", "hang"],
    ["PutItem", "throttle"],
    ["PutItem", "hang"],
    ["PutEvents", "throttle"],
    ["PutEvents", "server-error"],
    ["PutEvents", "hang"],
    ["UpdateItem", "server-error"],
  ] as const)("%s %s is retried and the event still arrives", async (operation, fault) => {
    faults.clear();
    injected.length = 0;
    faults.set(operation, [fault, fault]);
    const jobId = 40_000 + Math.floor(Math.random() * 10_000);
    const { status } = await deliverPending(jobId, `fault-${operation}-${fault}-${jobId}`);
    expect(status).toBe(202);
    expect(injected).toEqual([`${operation}:${fault}`, `${operation}:${fault}`]);
    expect(await pendingJobIds(1)).toEqual([jobId]);
  });

  it("dedupe that keeps failing is skipped (fail open), the event still arrives", async () => {
    faults.clear();
    faults.set("PutItem", ["server-error", "server-error", "server-error"]);
    const { status, log } = await deliverPending(50_001, "fault-putitem-down");
    expect(status).toBe(202);
    expect(log.lines.some((l) => l.message === "dedupe unavailable, processing without it")).toBe(true);
    expect(await pendingJobIds(1)).toEqual([50_001]);
  });

  it("PutEvents that keeps failing goes to the dead-letter queue", async () => {
    faults.clear();
    faults.set("PutEvents", Array(20).fill("server-error"));
    const { status } = await deliverPending(50_002, "fault-putevents-down");
    expect(status).toBe(202);
    const [message] = await drainQueue(world.sqs, world.queues.deadLetter, 1);
    expect(JSON.parse(JSON.parse(message!.Body!).entries[0].entry.Detail).jobId).toBe(50_002);
  });

  it("PutEvents and SendMessage both failing answers 503 and releases the claim; the resend gets through", async () => {
    faults.clear();
    faults.set("PutEvents", Array(20).fill("server-error"));
    faults.set("SendMessage", Array(20).fill("throttle"));
    const first = await deliverPending(50_003, "fault-all-down");
    expect(first.status).toBe(503);
    const record = await world.dynamo.send(
      new GetItemCommand({
        TableName: world.names.table,
        Key: { pk: { S: "DELIVERY#fault-all-down" }, sk: { S: "DELIVERY" } },
      }),
    );
    expect(record.Item).toBeUndefined();
    faults.clear();
    const resend = await deliverPending(50_003, "fault-all-down");
    expect(resend.status).toBe(202);
    expect(await pendingJobIds(1)).toEqual([50_003]);
  });
});
