/**
 * The webhook against moto: SSM SecureStrings, the DynamoDB dedupe record, PutEvents on a custom bus,
 * and routing by rules made from the SAME pattern objects the CDK app uses (src/events/patterns.ts).
 * moto's TestEventPattern is a stub (empty 200), so patterns are proven by delivery: moto evaluates
 * a rule's pattern when it forwards an event to an SQS target.
 */
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobEventDetailSchema } from "../../src/events/job-event.js";
import { JOB_EVENT_DETAIL_TYPE, JOB_EVENT_SOURCE } from "../../src/events/patterns.js";
import { JOB_STATUSES, jobHook, pipelineHook } from "./fixtures/payloads.js";
import { SIGNING_KEY } from "./support/fakes.js";
import { createMotoWorld, drainQueue, type MotoWorld } from "./support/moto-world.js";
import { functionUrlEvent } from "./support/requests.js";

type Handler = (event: LambdaFunctionURLEvent) => Promise<APIGatewayProxyStructuredResultV2>;

let world: MotoWorld;
let handler: Handler;

beforeAll(async () => {
  world = await createMotoWorld();
  // The production module, wired at import from the environment like in Lambda.
  Object.assign(process.env, { SGR_CONFIG: world.env.SGR_CONFIG, SGR_RESOURCES: world.env.SGR_RESOURCES });
  ({ handler } = await import("../../src/webhook/handler.js"));
});

afterAll(() => {
  // Leave the worker's environment as found: other test files may run in this process after us.
  delete process.env.SGR_CONFIG;
  delete process.env.SGR_RESOURCES;
});

function detailsOf(messages: { Body?: string }[]) {
  return messages.map((m) => {
    const event = JSON.parse(m.Body!);
    expect(event.source).toBe(JOB_EVENT_SOURCE);
    expect(event["detail-type"]).toBe(JOB_EVENT_DETAIL_TYPE);
    return jobEventDetailSchema.parse(event.detail);
  });
}

describe("webhook → EventBridge rules → queues (moto)", () => {
  it("routes every Job Hook status to job-status and only pending to scale-up", async () => {
    for (const [index, status] of JOB_STATUSES.entries()) {
      const body = JSON.stringify(jobHook(status, { build_id: 500 + index }));
      const response = await handler(functionUrlEvent(body, Date.now(), { signingKey: SIGNING_KEY }));
      expect(response.statusCode).toBe(202);
    }
    const all = detailsOf(await drainQueue(world.sqs, world.queues.allStatuses, JOB_STATUSES.length));
    expect(all.map((d) => d.status).sort()).toEqual([...JOB_STATUSES].sort());
    const pending = detailsOf(await drainQueue(world.sqs, world.queues.pending, 1));
    expect(pending.map((d) => [d.jobId, d.status])).toEqual([[501, "pending"]]);
    expect(pending[0]).toMatchObject({
      kind: "build",
      projectId: 4711,
      projectPath: "acme/backend/payments",
      runner: null,
    });
  });

  it("turns a Pipeline Hook with many builds into one event per build over several requests", async () => {
    const builds = Array.from({ length: 23 }, (_, i) => ({
      id: 9000 + i,
      status: i < 7 ? "pending" : "created",
    }));
    const response = await handler(functionUrlEvent(JSON.stringify(pipelineHook(builds)), Date.now()));
    expect(JSON.parse(response.body!)).toEqual({ message: "accepted", events: 23 });
    const pending = detailsOf(await drainQueue(world.sqs, world.queues.pending, 7));
    expect(pending.map((d) => d.jobId).sort()).toEqual(builds.slice(0, 7).map((b) => b.id));
    expect(pending.every((d) => d.kind === "pipeline" && d.pipelineId === 1_202)).toBe(true);
    expect(await drainQueue(world.sqs, world.queues.allStatuses, 23)).toHaveLength(23);
  });

  it("dedupes a resend on Idempotency-Key through the state table", async () => {
    const body = JSON.stringify(jobHook("pending", { build_id: 777 }));
    const key = `idem-${Date.now()}`;
    expect((await handler(functionUrlEvent(body, Date.now(), { idempotencyKey: key }))).statusCode).toBe(202);
    expect((await handler(functionUrlEvent(body, Date.now(), { idempotencyKey: key }))).statusCode).toBe(200);
    expect(detailsOf(await drainQueue(world.sqs, world.queues.pending, 1)).map((d) => d.jobId)).toEqual([
      777,
    ]);
    expect(detailsOf(await drainQueue(world.sqs, world.queues.allStatuses, 1)).map((d) => d.jobId)).toEqual([
      777,
    ]);
    const record = await world.dynamo.send(
      new GetItemCommand({
        TableName: world.names.table,
        Key: { pk: { S: `DELIVERY#${key}` }, sk: { S: "DELIVERY" } },
      }),
    );
    expect(record.Item?.state?.S).toBe("DONE");
    const ttl = Number(record.Item?.ttl?.N);
    expect(ttl - Date.now() / 1000).toBeGreaterThan(23 * 3600);
  });

  it("refuses a wrong token and a tampered signature without putting anything", async () => {
    const body = JSON.stringify(jobHook("pending", { build_id: 778 }));
    expect((await handler(functionUrlEvent(body, Date.now(), { token: "wrong" }))).statusCode).toBe(401);
    const signed = functionUrlEvent(body, Date.now(), { token: null, signingKey: SIGNING_KEY });
    signed.body = body.replace("778", "779");
    expect((await handler(signed)).statusCode).toBe(401);
    const seen = detailsOf(await drainQueue(world.sqs, world.queues.allStatuses, 0, 300));
    expect(seen.filter((d) => d.jobId === 778 || d.jobId === 779)).toEqual([]);
  });
});

describe("events that cannot be put (moto)", () => {
  it("go to the dead-letter queue and the delivery is still acknowledged", async () => {
    const broken = await createMotoWorld({ missingBus: true });
    const { createWebhookDependencies } = await import("../../src/webhook/runtime.js");
    const { handleWebhookDelivery } = await import("../../src/webhook/delivery.js");
    const { fromFunctionUrlEvent } = await import("../../src/webhook/http.js");
    const { MemoryLog } = await import("./support/fakes.js");
    const deps = createWebhookDependencies(broken.env, new MemoryLog());
    deps.publishOptions = { baseDelayMs: 1 };
    const body = JSON.stringify(jobHook("pending", { build_id: 880 }));
    const response = await handleWebhookDelivery(
      fromFunctionUrlEvent(functionUrlEvent(body, Date.now())),
      deps,
    );
    expect(response.statusCode).toBe(202);
    const [message] = await drainQueue(broken.sqs, broken.queues.deadLetter, 1);
    const deadLettered = JSON.parse(message!.Body!);
    expect(deadLettered.reason).toBe("put-events-failed");
    expect(JSON.parse(deadLettered.entries[0].entry.Detail).jobId).toBe(880);
  });
});
