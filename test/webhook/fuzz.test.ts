/**
 * Fuzz: thousands of random bodies and header sets through the real handler wrapper with in-process
 * dependencies (healthy fakes, so any 5xx is our bug, never an AWS fault). Seeded: a failure prints
 * its seed and path, and re-running reproduces it.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signDelivery } from "../../src/gitlab/signature.js";
import { createWebhookHandler } from "../../src/webhook/app.js";
import { JOB_STATUSES, jobHook, pipelineHook } from "./fixtures/payloads.js";
import { fakeWorld, NOW_MS, SECRET_TOKEN, SIGNING_KEY } from "./support/fakes.js";
import { functionUrlEvent } from "./support/requests.js";

const SEED = 20_261_127;
const ALLOWED = new Set([200, 202, 400, 401, 405, 413, 415]);

/** Values of every JSON type, to put in any field. */
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** A realistic payload with some fields replaced by arbitrary values or removed. */
const mutatedPayload = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...JOB_STATUSES).map((s) => jobHook(s)),
      fc
        .array(fc.record({ id: fc.integer({ min: -5, max: 1e6 }), status: fc.string() }), { maxLength: 30 })
        .map((b) => pipelineHook(b)),
    ),
    fc.array(fc.tuple(fc.string({ maxLength: 30 }), fc.option(anyJson)), { maxLength: 6 }),
    fc.array(
      fc.constantFrom(
        "build_id",
        "build_status",
        "project_id",
        "runner",
        "builds",
        "object_attributes",
        "project",
        "object_kind",
      ),
      { maxLength: 3 },
    ),
  )
  .map(([base, replacements, fieldsToBreak]) => {
    const payload: Record<string, unknown> = { ...base };
    for (const [key, value] of replacements) payload[key] = value;
    for (const field of fieldsToBreak) payload[field] = null;
    return JSON.stringify(payload);
  });

const body = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  anyJson.map((v) => JSON.stringify(v)),
  fc.record({ object_kind: fc.oneof(fc.string(), anyJson) }).map((v) => JSON.stringify(v)),
  mutatedPayload,
);

const headerName = fc.constantFrom(
  "x-gitlab-token",
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "idempotency-key",
  "x-gitlab-event-uuid",
  "content-type",
  "X-Gitlab-Token",
  "Content-Type",
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 100 }),
  fc.constant(SECRET_TOKEN),
  fc.constant("application/json"),
  fc.integer().map(String),
  fc.constant("v1,"),
);

const delivery = fc.record({
  body,
  method: fc.oneof(
    { arbitrary: fc.constant("POST"), weight: 9 },
    { arbitrary: fc.constantFrom("GET", "PUT", "post", "", "DELETE"), weight: 1 },
  ),
  contentType: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 8 },
    {
      arbitrary: fc.constantFrom(
        "text/plain",
        "application/xml",
        "",
        null,
        "application/json; charset=utf-8",
      ),
      weight: 2,
    },
  ),
  base64: fc.boolean(),
  authenticity: fc.constantFrom("token", "signature", "both", "none", "random"),
  randomHeaders: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
  timestampSkew: fc.integer({ min: -1000, max: 1000 }),
  dropEvent: fc.oneof(
    { arbitrary: fc.constant("none"), weight: 17 },
    { arbitrary: fc.constantFrom("headers", "requestContext", "body"), weight: 3 },
  ),
});

describe("webhook fuzz", () => {
  it("never throws and never answers 5xx for a client's fault (3,000 seeded deliveries)", async () => {
    const world = fakeWorld();
    const errors: string[] = [];
    const handler = createWebhookHandler(() => world.deps, {
      info() {},
      warn() {},
      error: (message: string) => errors.push(message),
    } as never);
    const statuses = new Map<number, number>();

    await fc.assert(
      fc.asyncProperty(delivery, async (d) => {
        const withSignature = d.authenticity === "signature" || d.authenticity === "both";
        const event = functionUrlEvent(d.body, NOW_MS, {
          token: d.authenticity === "token" || d.authenticity === "both" ? SECRET_TOKEN : null,
          signingKey: withSignature ? SIGNING_KEY : null,
          base64: d.base64,
          method: d.method,
          contentType: d.contentType,
        });
        if (withSignature && d.timestampSkew !== 0) {
          // Re-sign with a skewed timestamp: inside the tolerance it must pass, outside it must be 401.
          const timestamp = String(Math.floor(NOW_MS / 1000) + d.timestampSkew);
          event.headers["webhook-timestamp"] = timestamp;
          event.headers["webhook-signature"] = signDelivery(
            SIGNING_KEY,
            event.headers["webhook-id"]!,
            timestamp,
            Buffer.from(d.body),
          );
        }
        if (d.authenticity === "random")
          for (const [name, value] of d.randomHeaders) event.headers[name] = value;
        const mangled = event as unknown as Record<string, unknown>;
        if (d.dropEvent !== "none") delete mangled[d.dropEvent];

        const response = await handler(event);
        statuses.set(response.statusCode!, (statuses.get(response.statusCode!) ?? 0) + 1);
        expect(ALLOWED.has(response.statusCode!), `status ${response.statusCode}: ${response.body}`).toBe(
          true,
        );
        expect(() => JSON.parse(response.body!)).not.toThrow();
        if (
          withSignature &&
          Math.abs(d.timestampSkew) > 300 &&
          response.statusCode !== 405 &&
          response.statusCode !== 413
        ) {
          expect(response.statusCode).toBe(401);
        }
      }),
      { seed: SEED, numRuns: 3000 },
    );
    console.info("fuzz status counts", Object.fromEntries(statuses));
    expect(errors).toEqual([]);
    // The corpus must reach deep: authentic deliveries accepted and refused for each reason.
    for (const status of [202, 400, 401, 405, 415]) expect(statuses.get(status) ?? 0).toBeGreaterThan(20);
  });
});
