/** Builders of Function URL events as GitLab would send them (token, signature, both, neither). */
import { randomUUID } from "node:crypto";
import type { LambdaFunctionURLEvent } from "aws-lambda";
import { signDelivery } from "../../../src/gitlab/signature.js";
import type { WebhookRequest } from "../../../src/webhook/delivery.js";
import { SECRET_TOKEN, SIGNING_KEY } from "./fakes.js";

export interface DeliveryOptions {
  token?: string | null;
  /** Sign with this key (default: the test key); null = unsigned. */
  signingKey?: Buffer | null;
  timestampSeconds?: number;
  idempotencyKey?: string | null;
  contentType?: string | null;
  base64?: boolean;
  method?: string;
  extraHeaders?: Record<string, string>;
}

export function deliveryHeaders(
  body: string | Buffer,
  nowMs: number,
  options: DeliveryOptions = {},
): Record<string, string> {
  const idempotencyKey = options.idempotencyKey === undefined ? randomUUID() : options.idempotencyKey;
  const headers: Record<string, string> = {
    "user-agent": "GitLab/19.4.0",
    "x-gitlab-event": "Job Hook",
    "x-gitlab-instance": "https://gitlab.example.com",
    "x-gitlab-webhook-uuid": randomUUID(),
    "x-gitlab-event-uuid": randomUUID(),
  };
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null) headers["content-type"] = contentType;
  if (idempotencyKey !== null) headers["idempotency-key"] = idempotencyKey;
  const token = options.token === undefined ? SECRET_TOKEN : options.token;
  if (token !== null) headers["x-gitlab-token"] = token;
  const key = options.signingKey === undefined ? null : options.signingKey;
  if (key !== null) {
    const id = idempotencyKey ?? randomUUID();
    const timestamp = String(options.timestampSeconds ?? Math.floor(nowMs / 1000));
    headers["webhook-id"] = id;
    headers["webhook-timestamp"] = timestamp;
    headers["webhook-signature"] = signDelivery(key, id, timestamp, Buffer.from(body));
  }
  return { ...headers, ...options.extraHeaders };
}

export function functionUrlEvent(
  body: string | Buffer,
  nowMs: number,
  options: DeliveryOptions = {},
): LambdaFunctionURLEvent {
  const raw = Buffer.from(body);
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: "/",
    rawQueryString: "",
    headers: deliveryHeaders(raw, nowMs, options),
    requestContext: {
      accountId: "anonymous",
      apiId: "abcdefghijklmnop",
      domainName: "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
      domainPrefix: "abcdefghijklmnop",
      http: {
        method: options.method ?? "POST",
        path: "/",
        protocol: "HTTP/1.1",
        sourceIp: "34.74.90.65",
        userAgent: "GitLab/19.4.0",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: "27/Nov/2026:10:00:30 +0000",
      timeEpoch: nowMs,
    },
    body: options.base64 ? raw.toString("base64") : raw.toString("utf8"),
    isBase64Encoded: options.base64 === true,
  };
}

export function webhookRequest(
  body: string | Buffer,
  nowMs: number,
  options: DeliveryOptions = {},
): WebhookRequest {
  const event = functionUrlEvent(body, nowMs, options);
  return {
    method: event.requestContext.http.method,
    headers: event.headers,
    body: event.body,
    isBase64Encoded: event.isBase64Encoded,
  };
}

export { SIGNING_KEY };
