import { describe, expect, it } from "vitest";
import { jobHook, pipelineHook, pushHook } from "../../test/webhook/fixtures/payloads.js";
import { fakeWorld, NOW_MS, SIGNING_KEY } from "../../test/webhook/support/fakes.js";
import { type DeliveryOptions, webhookRequest } from "../../test/webhook/support/requests.js";
import { jobEventDetailSchema } from "../events/job-event.js";
import { SecretsUnavailableError } from "../gitlab/webhook-secrets.js";
import { handleWebhookDelivery, isJsonContentType } from "./delivery.js";

const body = JSON.stringify(jobHook("pending"));
const deliver = (world: ReturnType<typeof fakeWorld>, payload: string, options: DeliveryOptions = {}) =>
  handleWebhookDelivery(webhookRequest(payload, NOW_MS, options), world.deps);

describe("webhook delivery", () => {
  it("puts one normalised event for an authentic Job Hook and answers 202", async () => {
    const world = fakeWorld();
    const response = await deliver(world, body, { idempotencyKey: "idem-1" });
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body)).toEqual({ message: "accepted", events: 1 });
    const [entry] = world.publisher.published;
    const detail = jobEventDetailSchema.parse(JSON.parse(entry!.Detail!));
    expect(detail).toMatchObject({ kind: "build", status: "pending", jobId: 380_001, deliveryId: "idem-1" });
    expect(detail.receivedAt).toBe(new Date(NOW_MS).toISOString());
    expect(world.ledger.records.get("idem-1")).toBe("DONE");
  });

  it("answers a duplicate with 200 and no new events", async () => {
    const world = fakeWorld();
    await deliver(world, body, { idempotencyKey: "idem-2" });
    const again = await deliver(world, body, { idempotencyKey: "idem-2" });
    expect(again.statusCode).toBe(200);
    expect(world.publisher.published).toHaveLength(1);
  });

  it("maps each refusal to its status", async () => {
    const world = fakeWorld();
    expect((await deliver(world, body, { method: "GET" })).statusCode).toBe(405);
    expect((await deliver(world, body, { token: "wrong" })).statusCode).toBe(401);
    expect((await deliver(world, body, { token: null })).statusCode).toBe(401);
    expect((await deliver(world, body, { contentType: "text/plain" })).statusCode).toBe(415);
    expect((await deliver(world, body, { contentType: null })).statusCode).toBe(415);
    expect((await deliver(world, "{oops", {})).statusCode).toBe(400);
    expect((await deliver(world, '{"no":"kind"}', {})).statusCode).toBe(400);
    expect((await deliver(world, JSON.stringify(pushHook()), {})).statusCode).toBe(202);
    expect(world.publisher.requests).toHaveLength(0);
  });

  it("answers 401 with the same body whatever failed", async () => {
    const world = fakeWorld();
    const wrongToken = await deliver(world, body, { token: "wrong" });
    const badSignature = await deliver(world, body, { signingKey: Buffer.alloc(32, 1) });
    const stale = await deliver(world, body, {
      signingKey: SIGNING_KEY,
      timestampSeconds: NOW_MS / 1000 - 301,
    });
    expect(new Set([wrongToken, badSignature, stale].map((r) => `${r.statusCode} ${r.body}`))).toEqual(
      new Set(['401 {"message":"unauthorized"}']),
    );
  });

  it("refuses bodies above the limit before authenticating, also when base64-encoded", async () => {
    const world = fakeWorld({
      settings: { maxBodyBytes: 2048, signatureToleranceSeconds: 300, requireSignature: false },
    });
    const big = JSON.stringify(jobHook("pending", { padding: "x".repeat(3000) }));
    expect((await deliver(world, big, { token: "wrong" })).statusCode).toBe(413);
    expect((await deliver(world, big, { base64: true })).statusCode).toBe(413);
    expect((await deliver(world, body, { base64: true })).statusCode).toBe(202);
  });

  it("turns every build of a Pipeline Hook into an event", async () => {
    const world = fakeWorld();
    const builds = Array.from({ length: 35 }, (_, i) => ({
      id: 1000 + i,
      status: i % 2 ? "pending" : "created",
    }));
    const response = await deliver(world, JSON.stringify(pipelineHook(builds)));
    expect(JSON.parse(response.body)).toEqual({ message: "accepted", events: 35 });
    expect(world.publisher.requests.map((r) => r.length)).toEqual([10, 10, 10, 5]);
  });

  it("dead-letters events that cannot be put and still acknowledges", async () => {
    const world = fakeWorld();
    world.publisher.failEntry = () => "InternalFailure";
    const response = await deliver(world, body, { idempotencyKey: "idem-3" });
    expect(response.statusCode).toBe(202);
    expect(world.deadLetters.messages).toHaveLength(1);
    expect(JSON.parse(world.deadLetters.messages[0]!).entries[0].errorCode).toBe("InternalFailure");
    expect(world.ledger.records.get("idem-3")).toBe("DONE");
  });

  it("answers 503 and releases the claim when the dead-letter queue fails too", async () => {
    const world = fakeWorld();
    world.publisher.failEntry = () => "InternalFailure";
    world.deadLetters.failWith = new Error("sqs down");
    const response = await deliver(world, body, { idempotencyKey: "idem-4" });
    expect(response.statusCode).toBe(503);
    expect(world.ledger.records.has("idem-4")).toBe(false);
    // GitLab's resend is then processed, not swallowed as a duplicate.
    world.publisher.failEntry = () => undefined;
    expect((await deliver(world, body, { idempotencyKey: "idem-4" })).statusCode).toBe(202);
  });

  it("answers 503 when no dead-letter queue is configured and events cannot be put", async () => {
    const world = fakeWorld({ deadLetters: null });
    world.publisher.failEntry = () => "InternalFailure";
    expect((await deliver(world, body)).statusCode).toBe(503);
  });

  it("processes without dedupe when the table is unreachable", async () => {
    const world = fakeWorld();
    world.ledger.failWith = Object.assign(new Error("throttled"), { name: "ThrottlingException" });
    expect((await deliver(world, body)).statusCode).toBe(202);
    expect(world.publisher.published).toHaveLength(1);
    expect(world.log.lines.some((l) => l.message === "dedupe unavailable, processing without it")).toBe(true);
  });

  it("answers 503 when the secrets cannot be read", async () => {
    const world = fakeWorld({
      secrets: { get: () => Promise.reject(new SecretsUnavailableError("ssm unreachable")) },
    });
    expect((await deliver(world, body)).statusCode).toBe(503);
  });
});

describe("webhook metrics", () => {
  it("counts accepted and rejected deliveries and the events put", async () => {
    const world = fakeWorld();
    await deliver(world, body);
    await deliver(
      world,
      JSON.stringify(
        pipelineHook([
          { id: 1, status: "pending" },
          { id: 2, status: "created" },
        ]),
      ),
    );
    await deliver(world, body, { token: "wrong" });
    await deliver(world, "{", {});
    expect(Object.fromEntries(world.metrics.counts)).toEqual({
      WebhookAccepted: 2,
      WebhookRejected: 2,
      JobEventsPublished: 3,
    });
  });
});

describe("content types", () => {
  it("accepts JSON media types only", () => {
    for (const ok of ["application/json", "Application/JSON; charset=utf-8", "application/vnd.gitlab+json"]) {
      expect(isJsonContentType(ok)).toBe(true);
    }
    for (const bad of [
      undefined,
      "",
      "text/json",
      "application/x-www-form-urlencoded",
      "application/jsonp",
    ]) {
      expect(isJsonContentType(bad)).toBe(false);
    }
  });
});
