/**
 * Standard Webhooks signatures, as GitLab (19.0+) sends them when a hook has a signing token:
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>")>`,
 * possibly several space-separated entries (key rotation). The key is `whsec_<base64>`.
 */
// process.getBuiltinModule, not an ESM import: the ESM facade of a builtin evaluates every lazy export
// (node:http's pulls in undici, ~50 ms of cold start in the webhook bundle).
const { createHmac, timingSafeEqual } = process.getBuiltinModule("node:crypto");

const SIGNING_TOKEN_PREFIX = "whsec_";
const HMAC_SHA256_BYTES = 32;
/** Bounds on header sizes: anything longer is not a GitLab signature and is not worth hashing. */
const MAX_ID_LENGTH = 256;
const MAX_SIGNATURE_HEADER_LENGTH = 4096;

export class SigningTokenError extends Error {
  override name = "SigningTokenError";
}

/** Decodes a `whsec_…` signing token (the prefix is optional, as in the Standard Webhooks libraries). */
export function decodeSigningToken(token: string): Buffer {
  const trimmed = token.trim();
  const encoded = trimmed.startsWith(SIGNING_TOKEN_PREFIX)
    ? trimmed.slice(SIGNING_TOKEN_PREFIX.length)
    : trimmed;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new SigningTokenError("signing token is not whsec_ followed by base64");
  }
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0) throw new SigningTokenError("signing token decodes to an empty key");
  return key;
}

export interface SignedDeliveryHeaders {
  webhookId: string | undefined;
  webhookTimestamp: string | undefined;
  webhookSignature: string | undefined;
}

export type SignatureCheck =
  | { ok: true }
  | { ok: false; reason: "missing-headers" | "malformed" | "stale-timestamp" | "mismatch" };

export interface SignatureCheckOptions {
  key: Buffer;
  body: Buffer;
  nowSeconds: number;
  toleranceSeconds: number;
}

function hmac(key: Buffer, id: string, timestamp: string, body: Buffer): Buffer {
  return createHmac("sha256", key).update(`${id}.${timestamp}.`, "utf8").update(body).digest();
}

/** The `webhook-signature` value a sender would put on this delivery (used by tests, benchmarks and tools). */
export function signDelivery(key: Buffer, id: string, timestamp: string, body: Buffer): string {
  return `v1,${hmac(key, id, timestamp, body).toString("base64")}`;
}

/** Whether any presented signature header is present: a request with none of them is simply unsigned. */
export function hasSignatureHeaders(headers: SignedDeliveryHeaders): boolean {
  return (
    headers.webhookId !== undefined ||
    headers.webhookTimestamp !== undefined ||
    headers.webhookSignature !== undefined
  );
}

export function verifySignature(
  headers: SignedDeliveryHeaders,
  options: SignatureCheckOptions,
): SignatureCheck {
  const { webhookId: id, webhookTimestamp: timestamp, webhookSignature: signatures } = headers;
  if (id === undefined || timestamp === undefined || signatures === undefined) {
    return { ok: false, reason: "missing-headers" };
  }
  if (
    id.length === 0 ||
    id.length > MAX_ID_LENGTH ||
    signatures.length > MAX_SIGNATURE_HEADER_LENGTH ||
    !/^\d{1,12}$/.test(timestamp)
  ) {
    return { ok: false, reason: "malformed" };
  }
  // Replay protection: a captured delivery is only good within the tolerance window.
  if (Math.abs(options.nowSeconds - Number(timestamp)) > options.toleranceSeconds) {
    return { ok: false, reason: "stale-timestamp" };
  }
  const expected = hmac(options.key, id, timestamp, options.body);
  let matched = false;
  for (const entry of signatures.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue; // other schemes (v1a: asymmetric) are not ours
    const candidate = Buffer.from(entry.slice(comma + 1), "base64");
    // Every entry is compared (no early exit) so timing does not say which one matched.
    if (candidate.length === HMAC_SHA256_BYTES && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: "mismatch" };
}
