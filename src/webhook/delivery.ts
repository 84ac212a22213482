/**
 * One webhook delivery, from HTTP request to response: the order of checks and the status codes.
 *
 *   405 not POST · 413 body above webhook.maxBodyBytes · 401 not authentic (one body for every cause)
 *   · 415 not a JSON content type · 400 not JSON / no object_kind / unusable Job or Pipeline Hook
 *   · 200 duplicate delivery · 202 accepted (also kinds we ignore) · 503 secrets unreadable, or events
 *   could be neither put nor dead-lettered.
 * Size comes first so an oversized body is never hashed; authentication comes before content checks
 * so an unauthenticated caller learns nothing about what we accept. 415 applies to authentic requests
 * only: GitLab always sends `application/json`, so another type means a misconfigured sender, and
 * saying so is more useful than a 400.
 */

import { authenticateDelivery, type Mechanism } from "../gitlab/authenticate.js";
import { type DeliveryKey, type DeliveryLedger, deliveryKeyOf } from "../gitlab/delivery-ledger.js";
import { type ParsedWebhook, parseWebhookBody } from "../gitlab/payloads.js";
import type { WebhookSecretProvider } from "../gitlab/webhook-secrets.js";
import { METRICS } from "../observability/metric-names.js";
import type { DeadLetterSink, EventPublisher, PublishOptions } from "./publish.js";
import { deadLetter, publishEntries, toJobEventDetail, toPutEventsEntry } from "./publish.js";

export interface WebhookRequest {
  method: string;
  /** Header names in lower case (as Function URLs deliver them). */
  headers: Readonly<Record<string, string | undefined>>;
  /** Header names sent more than once, differing only in case, with different values: the delivery is refused. */
  conflictingHeaders?: readonly string[];
  body: string | undefined;
  isBase64Encoded: boolean;
}

export interface WebhookResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface WebhookSettings {
  maxBodyBytes: number;
  signatureToleranceSeconds: number;
  requireSignature: boolean;
}

/** Structured log sink (the Powertools logger). Callers never pass it a secret or a body. */
export interface DeliveryLog {
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** The webhook's metrics (names in src/observability/metric-names.ts; the CDK alarms read them). */
export type WebhookMetricName =
  | typeof METRICS.webhookAccepted
  | typeof METRICS.webhookRejected
  | typeof METRICS.jobEventsPublished;
export interface DeliveryMetrics {
  count(name: WebhookMetricName, value?: number): void;
}

export interface WebhookDependencies {
  settings: WebhookSettings;
  secrets: WebhookSecretProvider;
  ledger: DeliveryLedger;
  publisher: EventPublisher;
  eventBusName: string;
  /** Null when no dead-letter queue is deployed: undeliverable events then make the delivery 503. */
  deadLetters: DeadLetterSink | null;
  log: DeliveryLog;
  metrics: DeliveryMetrics;
  now: () => number;
  publishOptions?: PublishOptions;
}

function respond(statusCode: number, message: string, extra: Record<string, unknown> = {}): WebhookResponse {
  return {
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message, ...extra }),
  };
}

const UNAUTHORIZED = () => respond(401, "unauthorized");

/** Upper bound of the decoded size of a base64 text, so an oversized body is refused before decoding. */
function decodedSizeBound(text: string, isBase64: boolean): number {
  return isBase64 ? Math.floor((text.length * 3) / 4) : Buffer.byteLength(text, "utf8");
}

export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const mediaType = value.split(";", 1)[0]!.trim().toLowerCase();
  return mediaType === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/** Handles one delivery and counts it: 2xx accepted, 4xx rejected (5xx are logged as errors instead). */
export async function handleWebhookDelivery(
  request: WebhookRequest,
  deps: WebhookDependencies,
): Promise<WebhookResponse> {
  const response = await answer(request, deps);
  if (response.statusCode < 300) deps.metrics.count(METRICS.webhookAccepted);
  else if (response.statusCode < 500) deps.metrics.count(METRICS.webhookRejected);
  return response;
}

async function answer(request: WebhookRequest, deps: WebhookDependencies): Promise<WebhookResponse> {
  if (request.method.toUpperCase() !== "POST") {
    const response = respond(405, "method not allowed");
    response.headers.allow = "POST";
    return response;
  }
  if (request.conflictingHeaders?.length) {
    deps.log.warn("delivery refused", { reason: "conflicting-headers", headers: request.conflictingHeaders });
    return respond(400, "headers sent twice with different values");
  }
  const body = boundedBody(request, deps.settings.maxBodyBytes);
  if (!Buffer.isBuffer(body)) return body;
  const authenticated = await authenticate(request.headers, body, deps);
  if ("statusCode" in authenticated) return authenticated;

  const h = request.headers;
  if (!isJsonContentType(h["content-type"])) {
    deps.log.warn("delivery refused", { reason: "unsupported-content-type" });
    return respond(415, "content type must be application/json");
  }
  const parsed = parseWebhookBody(body.toString("utf8"));
  if (!parsed.ok) {
    deps.log.warn("delivery refused", { reason: parsed.reason, detail: parsed.detail });
    return respond(400, parsed.reason === "not-json" ? "body is not JSON" : "not a GitLab webhook payload");
  }
  const webhook = parsed.webhook;
  if (webhook.kind === "ignored") {
    deps.log.info("delivery ignored", { objectKind: webhook.objectKind });
    return respond(202, "ignored");
  }

  const key = deliveryKeyOf(
    { idempotencyKey: h["idempotency-key"], webhookId: h["webhook-id"], eventUuid: h["x-gitlab-event-uuid"] },
    body,
  );
  const claimed = await claim(key, deps);
  if (claimed === "duplicate") {
    deps.log.info("duplicate delivery", { deliveryId: key?.key, keySource: key?.source });
    return respond(200, "duplicate");
  }
  return publishJobs({ webhook, key, claimed, ...authenticated }, deps);
}

/** The decoded body, or 413 when it is larger than allowed (checked before decoding, then after). */
function boundedBody(request: WebhookRequest, maxBodyBytes: number): Buffer | WebhookResponse {
  const text = request.body ?? "";
  if (decodedSizeBound(text, request.isBase64Encoded) > maxBodyBytes) {
    return respond(413, "payload too large", { maxBodyBytes });
  }
  const body = request.isBase64Encoded ? Buffer.from(text, "base64") : Buffer.from(text, "utf8");
  if (body.length > maxBodyBytes) return respond(413, "payload too large", { maxBodyBytes });
  return body;
}

interface Authenticated {
  verifiedBy: Mechanism[];
  receivedAtMs: number;
}

/** Secret token and/or signature checked against the secrets from SSM: 503 without secrets, 401 when wrong. */
async function authenticate(
  h: WebhookRequest["headers"],
  body: Buffer,
  deps: WebhookDependencies,
): Promise<Authenticated | WebhookResponse> {
  let secrets: Awaited<ReturnType<WebhookSecretProvider["get"]>>;
  try {
    secrets = await deps.secrets.get();
  } catch (error) {
    deps.log.error("webhook secrets unavailable", { error: (error as Error).message });
    return respond(503, "temporarily unavailable");
  }
  const receivedAtMs = deps.now();
  const auth = authenticateDelivery(
    {
      secretToken: h["x-gitlab-token"],
      signature: {
        webhookId: h["webhook-id"],
        webhookTimestamp: h["webhook-timestamp"],
        webhookSignature: h["webhook-signature"],
      },
    },
    secrets,
    {
      body,
      nowSeconds: Math.floor(receivedAtMs / 1000),
      toleranceSeconds: deps.settings.signatureToleranceSeconds,
      requireSignature: deps.settings.requireSignature,
    },
  );
  if (!auth.ok) {
    deps.log.warn("delivery refused", { reason: auth.reason });
    return UNAUTHORIZED();
  }
  return { verifiedBy: auth.verifiedBy, receivedAtMs };
}

interface Delivery extends Authenticated {
  webhook: Exclude<ParsedWebhook, { kind: "ignored" }>;
  key: DeliveryKey | null;
  claimed: "claimed" | "unchecked";
}

/** Puts the delivery's job events on the bus; what fails goes to the dead-letter queue, else the delivery is refused. */
async function publishJobs(delivery: Delivery, deps: WebhookDependencies): Promise<WebhookResponse> {
  const { webhook, key, claimed } = delivery;
  const receivedAt = new Date(delivery.receivedAtMs);
  const deliveryId = key?.key ?? null;
  const entries = webhook.jobs.map((job) =>
    toPutEventsEntry(
      toJobEventDetail(job, { kind: webhook.kind, deliveryId, receivedAt }),
      deps.eventBusName,
      receivedAt,
    ),
  );
  const published = await publishEntries(deps.publisher, entries, deps.publishOptions);
  if (published.published > 0) deps.metrics.count(METRICS.jobEventsPublished, published.published);
  const logAttributes = {
    deliveryId,
    keySource: key?.source,
    kind: webhook.kind,
    verifiedBy: delivery.verifiedBy,
    events: entries.length,
    published: published.published,
    attempts: published.attempts,
    ...(webhook.kind === "pipeline"
      ? { pipelineId: webhook.pipelineId, unreadableBuilds: webhook.unreadableBuilds }
      : {}),
  };

  if (published.failed.length > 0) {
    const errorCodes = [...new Set(published.failed.map((f) => f.errorCode))];
    try {
      if (!deps.deadLetters) throw new Error("no dead-letter queue configured");
      const messages = await deadLetter(deps.deadLetters, published.failed, deliveryId, receivedAt);
      deps.log.error("events dead-lettered", {
        ...logAttributes,
        deadLettered: published.failed.length,
        messages,
        errorCodes,
      });
    } catch (error) {
      // Nothing kept the events: refuse, and release the claim so GitLab's resend is processed.
      deps.log.error("events lost unless resent", {
        ...logAttributes,
        errorCodes,
        deadLetterError: (error as Error).message,
      });
      if (claimed === "claimed" && key) await settle(() => deps.ledger.release(key.key), "release", deps);
      return respond(503, "temporarily unavailable");
    }
  }
  if (claimed === "claimed" && key) await settle(() => deps.ledger.markDone(key.key), "mark-done", deps);
  deps.log.info("delivery accepted", logAttributes);
  return respond(202, "accepted", { events: entries.length });
}

/** Claims the delivery; fails open (no dedupe) when the table cannot be reached. */
async function claim(
  key: DeliveryKey | null,
  deps: WebhookDependencies,
): Promise<"claimed" | "duplicate" | "unchecked"> {
  if (key === null) return "unchecked";
  try {
    return await deps.ledger.claim(key.key);
  } catch (error) {
    deps.log.warn("dedupe unavailable, processing without it", {
      deliveryId: key.key,
      error: (error as Error).name,
    });
    return "unchecked";
  }
}

async function settle(action: () => Promise<void>, what: string, deps: WebhookDependencies): Promise<void> {
  try {
    await action();
  } catch (error) {
    deps.log.warn("dedupe record update failed", { action: what, error: (error as Error).name });
  }
}
