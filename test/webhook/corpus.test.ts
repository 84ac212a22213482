/**
 * The webhook input corpus against moto-backed dependencies: every Job Hook status, a Pipeline Hook,
 * every header combination, malformed, oversized, wrongly typed and base64 bodies, other methods.
 * Each row names the expected status; authentic rows also check the event reached the bus.
 */
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { createWebhookHandler } from "../../src/webhook/app.js";
import { createWebhookDependencies } from "../../src/webhook/runtime.js";
import { JOB_STATUSES, jobHook, pipelineHook, pushHook } from "./fixtures/payloads.js";
import { MemoryLog, SIGNING_KEY } from "./support/fakes.js";
import { createMotoWorld, drainQueue, type MotoWorld } from "./support/moto-world.js";
import { type DeliveryOptions, functionUrlEvent } from "./support/requests.js";

type Handler = (event: LambdaFunctionURLEvent) => Promise<APIGatewayProxyStructuredResultV2>;
const quietLogger = { info() {}, warn() {}, error() {} } as never;

const WRONG_KEY = Buffer.alloc(32, 0xab);
const HEADER_CASES: [name: string, options: DeliveryOptions, expected: number][] = [
  ["token only", { token: undefined }, 202],
  ["signature only", { token: null, signingKey: SIGNING_KEY }, 202],
  ["token and signature", { signingKey: SIGNING_KEY }, 202],
  ["neither", { token: null }, 401],
  ["wrong token", { token: "glwht-wrong" }, 401],
  ["empty token", { token: "" }, 401],
  ["wrong signature", { token: null, signingKey: WRONG_KEY }, 401],
  ["right token, wrong signature", { signingKey: WRONG_KEY }, 401],
  ["wrong token, right signature", { token: "glwht-wrong", signingKey: SIGNING_KEY }, 401],
  ["wrong token, wrong signature", { token: "glwht-wrong", signingKey: WRONG_KEY }, 401],
  [
    "stale signature",
    { token: null, signingKey: SIGNING_KEY, timestampSeconds: Math.floor(Date.now() / 1000) - 3600 },
    401,
  ],
  [
    "future signature",
    { token: null, signingKey: SIGNING_KEY, timestampSeconds: Math.floor(Date.now() / 1000) + 3600 },
    401,
  ],
];

let world: MotoWorld;
let tokenOnlyWorld: MotoWorld;
let handler: Handler;
let tokenOnlyHandler: Handler;

beforeAll(async () => {
  [world, tokenOnlyWorld] = await Promise.all([createMotoWorld(), createMotoWorld({ withoutSigning: true })]);
  handler = createWebhookHandler((log) => createWebhookDependencies(world.env, log), quietLogger);
  tokenOnlyHandler = createWebhookHandler(
    (log) => createWebhookDependencies(tokenOnlyWorld.env, log),
    quietLogger,
  );
});

describe("webhook corpus: statuses × header combinations", () => {
  it.each(JOB_STATUSES)("Job Hook %s under every header combination", async (status) => {
    const body = JSON.stringify(jobHook(status, { build_id: 10_000 + JOB_STATUSES.indexOf(status) }));
    const got: [string, number][] = [];
    for (const [name, options] of HEADER_CASES) {
      got.push([name, (await handler(functionUrlEvent(body, Date.now(), options))).statusCode!]);
    }
    expect(got).toEqual(HEADER_CASES.map(([name, , expected]) => [name, expected]));
  });

  it("put one event per accepted Job Hook delivery", async () => {
    const accepted = HEADER_CASES.filter(([, , expected]) => expected === 202).length;
    const messages = await drainQueue(world.sqs, world.queues.allStatuses, accepted * JOB_STATUSES.length);
    expect(messages).toHaveLength(accepted * JOB_STATUSES.length);
  });

  it("accepts a Pipeline Hook and ignored kinds", async () => {
    const pipeline = JSON.stringify(
      pipelineHook([
        { id: 20_001, status: "pending" },
        { id: 20_002, status: "created" },
      ]),
    );
    expect((await handler(functionUrlEvent(pipeline, Date.now()))).statusCode).toBe(202);
    expect((await handler(functionUrlEvent(JSON.stringify(pushHook()), Date.now()))).statusCode).toBe(202);
    const pending = await drainQueue(world.sqs, world.queues.pending, 1);
    expect(pending.map((m) => JSON.parse(m.Body!).detail.jobId)).toContain(20_001);
  });
});

describe("webhook corpus: bodies, types and methods", () => {
  const valid = JSON.stringify(jobHook("pending", { build_id: 30_001 }));
  const cases: [name: string, body: string, options: DeliveryOptions, expected: number][] = [
    ["base64 body, token", valid, { base64: true }, 202],
    ["base64 body, signature", valid, { base64: true, token: null, signingKey: SIGNING_KEY }, 202],
    ["charset in content type", valid, { contentType: "application/json; charset=utf-8" }, 202],
    ["malformed JSON", '{"object_kind": "build",', {}, 400],
    ["empty body", "", {}, 400],
    ["JSON array", "[]", {}, 400],
    ["no object_kind", '{"build_id": 1}', {}, 400],
    ["Job Hook without build_id", JSON.stringify(jobHook("pending", { build_id: undefined })), {}, 400],
    ["Pipeline Hook without project", JSON.stringify(pipelineHook([], { project: undefined })), {}, 400],
    ["form content type", valid, { contentType: "application/x-www-form-urlencoded" }, 415],
    ["no content type", valid, { contentType: null }, 415],
    ["text content type, wrong token", valid, { contentType: "text/plain", token: "nope" }, 401],
    ["oversized body", JSON.stringify(jobHook("pending", { pad: "x".repeat(1024 * 1024) })), {}, 413],
    [
      "oversized base64 body",
      JSON.stringify(jobHook("pending", { pad: "x".repeat(1024 * 1024) })),
      { base64: true },
      413,
    ],
    ["GET", valid, { method: "GET" }, 405],
    ["PUT", valid, { method: "PUT" }, 405],
  ];
  it.each(cases)("%s", async (_name, body, options, expected) => {
    const response = await handler(functionUrlEvent(body, Date.now(), options));
    expect(response.statusCode).toBe(expected);
    expect(response.headers?.["content-type"]).toBe("application/json");
  });

  it("refuses signature-only deliveries when no signing token is configured", async () => {
    const body = JSON.stringify(jobHook("pending", { build_id: 30_002 }));
    expect(
      (await tokenOnlyHandler(functionUrlEvent(body, Date.now(), { token: null, signingKey: SIGNING_KEY })))
        .statusCode,
    ).toBe(401);
    expect(
      (await tokenOnlyHandler(functionUrlEvent(body, Date.now(), { signingKey: WRONG_KEY }))).statusCode,
    ).toBe(202);
  });

  it("answers 503 (not 401) when the secrets are missing from SSM", async () => {
    const env = { ...world.env, SGR_CONFIG: world.env.SGR_CONFIG.replaceAll("/webhook-", "/absent-") };
    const log = new MemoryLog();
    const missing = createWebhookHandler(() => createWebhookDependencies(env, log), quietLogger);
    expect((await missing(functionUrlEvent(valid, Date.now()))).statusCode).toBe(503);
    expect(log.lines.map((l) => l.message)).toEqual(["webhook secrets unavailable"]);
  });
});
