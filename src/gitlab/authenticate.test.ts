import { describe, expect, it } from "vitest";
import { authenticateDelivery, type DeliveryCredentials, type WebhookSecrets } from "./authenticate.js";
import { signDelivery } from "./signature.js";

const key = Buffer.alloc(32, 7);
const body = Buffer.from('{"object_kind":"build"}');
const now = 1_800_000_000;
const options = { body, nowSeconds: now, toleranceSeconds: 300, requireSignature: false };
const both: WebhookSecrets = { secretToken: "token-1", signingKey: key };

function credentials(
  token: string | undefined,
  signature: "good" | "bad" | "stale" | "none",
): DeliveryCredentials {
  if (signature === "none") {
    return {
      secretToken: token,
      signature: { webhookId: undefined, webhookTimestamp: undefined, webhookSignature: undefined },
    };
  }
  const timestamp = String(signature === "stale" ? now - 3600 : now);
  const signed = signDelivery(signature === "bad" ? Buffer.alloc(32, 8) : key, "id-1", timestamp, body);
  return {
    secretToken: token,
    signature: { webhookId: "id-1", webhookTimestamp: timestamp, webhookSignature: signed },
  };
}

describe("delivery authentication policy", () => {
  it.each([
    // token header, signature, expected verdict, with both mechanisms configured
    ["token-1", "none", ["token"]],
    [undefined, "good", ["signature"]],
    ["token-1", "good", ["signature", "token"]],
    [undefined, "none", "no-verifiable-credential"],
    ["wrong", "none", "token-mismatch"],
    ["wrong", "good", "token-mismatch"],
    ["token-1", "bad", "signature-mismatch"],
    [undefined, "bad", "signature-mismatch"],
    ["token-1", "stale", "signature-stale-timestamp"],
  ] as const)("token %s with signature %s → %s", (token, signature, expected) => {
    const result = authenticateDelivery(credentials(token, signature), both, options);
    expect(result).toEqual(
      typeof expected === "string" ? { ok: false, reason: expected } : { ok: true, verifiedBy: expected },
    );
  });

  it("ignores credentials of a mechanism that is not configured", () => {
    const tokenOnly: WebhookSecrets = { secretToken: "token-1", signingKey: null };
    expect(authenticateDelivery(credentials("token-1", "bad"), tokenOnly, options)).toEqual({
      ok: true,
      verifiedBy: ["token"],
    });
    expect(authenticateDelivery(credentials(undefined, "good"), tokenOnly, options).ok).toBe(false);
    const signingOnly: WebhookSecrets = { secretToken: null, signingKey: key };
    expect(authenticateDelivery(credentials("anything", "good"), signingOnly, options)).toEqual({
      ok: true,
      verifiedBy: ["signature"],
    });
    expect(authenticateDelivery(credentials("anything", "none"), signingOnly, options).ok).toBe(false);
  });

  it("requires a signature when configured to", () => {
    const strict = { ...options, requireSignature: true };
    expect(authenticateDelivery(credentials("token-1", "none"), both, strict)).toEqual({
      ok: false,
      reason: "signature-required",
    });
    expect(authenticateDelivery(credentials("token-1", "good"), both, strict).ok).toBe(true);
  });
});
