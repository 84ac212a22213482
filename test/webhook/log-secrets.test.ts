/**
 * No secret in any log line: authentic and failing deliveries through the real Powertools logger and
 * moto-backed dependencies, with every byte written to stdout/stderr captured and searched for the
 * secret token, the signing token (and its key), and every signature and token a request carried.
 */
import type { LambdaFunctionURLEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { createWebhookHandler } from "../../src/webhook/app.js";
import { createWebhookDependencies } from "../../src/webhook/runtime.js";
import { jobHook } from "./fixtures/payloads.js";
import { SECRET_TOKEN, SIGNING_KEY, SIGNING_TOKEN } from "./support/fakes.js";
import { createMotoWorld, type MotoWorld } from "./support/moto-world.js";
import { functionUrlEvent } from "./support/requests.js";

let captured = "";
const originalStdout = process.stdout.write.bind(process.stdout);
const originalStderr = process.stderr.write.bind(process.stderr);
const capture =
  (original: typeof process.stdout.write) =>
  (chunk: unknown, ...rest: unknown[]): boolean => {
    captured += typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
  };

let world: MotoWorld;
let brokenWorld: MotoWorld;
const previousLogLevel = process.env.LOG_LEVEL;

beforeAll(async () => {
  [world, brokenWorld] = await Promise.all([createMotoWorld(), createMotoWorld({ missingBus: true })]);
  process.env.LOG_LEVEL = "DEBUG";
  process.stdout.write = capture(originalStdout) as typeof process.stdout.write;
  process.stderr.write = capture(originalStderr) as typeof process.stderr.write;
});

afterAll(() => {
  process.stdout.write = originalStdout;
  process.stderr.write = originalStderr;
  if (previousLogLevel === undefined) delete process.env.LOG_LEVEL;
  else process.env.LOG_LEVEL = previousLogLevel;
});

describe("log lines never carry a secret", () => {
  it("holds for authentic, refused, dead-lettered and misconfigured deliveries", async () => {
    const logger = createLogger("webhook");
    const handler = createWebhookHandler((log) => createWebhookDependencies(world.env, log), logger);
    const broken = createWebhookHandler((log) => createWebhookDependencies(brokenWorld.env, log), logger);
    const misconfigured = createWebhookHandler(
      (log) =>
        createWebhookDependencies(
          { SGR_CONFIG: world.env.SGR_CONFIG.replace("/sgr-test/", "sgr-test/") },
          log,
        ),
      logger,
    );
    const body = JSON.stringify(jobHook("pending"));
    const now = Date.now();
    const events: LambdaFunctionURLEvent[] = [
      functionUrlEvent(body, now),
      functionUrlEvent(body, now, { token: null, signingKey: SIGNING_KEY }),
      functionUrlEvent(body, now, { signingKey: SIGNING_KEY, base64: true }),
      functionUrlEvent(body, now, { token: `${SECRET_TOKEN}x` }),
      functionUrlEvent(body, now, { token: SECRET_TOKEN.slice(0, -1) }),
      functionUrlEvent(body, now, { signingKey: Buffer.alloc(32, 9) }),
      functionUrlEvent(body, now, {
        token: null,
        signingKey: SIGNING_KEY,
        timestampSeconds: Math.floor(now / 1000) - 900,
      }),
      functionUrlEvent("{broken", now, { signingKey: SIGNING_KEY }),
      functionUrlEvent(JSON.stringify(jobHook("pending", { build_id: "x" })), now),
      functionUrlEvent(body, now, { contentType: "text/plain" }),
    ];
    const statuses: number[] = [];
    for (const event of events) statuses.push((await handler(event)).statusCode!);
    // The production module too: its Powertools Metrics (EMF) lines go through the same capture.
    Object.assign(process.env, { SGR_CONFIG: world.env.SGR_CONFIG, SGR_RESOURCES: world.env.SGR_RESOURCES });
    const production = (await import("../../src/webhook/handler.js")).handler;
    delete process.env.SGR_CONFIG;
    delete process.env.SGR_RESOURCES;
    for (const event of events.slice(0, 4)) statuses.push((await production(event)).statusCode!);
    const deadLettered = functionUrlEvent(body, now, { signingKey: SIGNING_KEY });
    statuses.push((await broken(deadLettered)).statusCode!);
    statuses.push((await misconfigured(functionUrlEvent(body, now))).statusCode!);
    expect(statuses).toEqual([
      202, 202, 202, 401, 401, 401, 401, 400, 400, 415, 200, 200, 200, 401, 202, 500,
    ]);

    // The capture really saw the logger's lines (a check that cannot pass on an empty capture).
    for (const message of [
      "delivery accepted",
      "delivery refused",
      "events dead-lettered",
      "webhook configuration invalid",
    ]) {
      expect(captured).toContain(message);
    }
    const sentSecrets = [...events, deadLettered].flatMap((e) =>
      [e.headers["x-gitlab-token"], e.headers["webhook-signature"]].filter((v): v is string => !!v),
    );
    const forbidden = [
      SECRET_TOKEN,
      SIGNING_TOKEN,
      SIGNING_TOKEN.slice("whsec_".length),
      SIGNING_KEY.toString("hex"),
      ...sentSecrets,
      ...sentSecrets.map((s) => s.replace(/^v1,/, "")),
    ];
    for (const secret of forbidden)
      expect(captured, `a log line contains ${secret.slice(0, 4)}…`).not.toContain(secret);
  });
});
