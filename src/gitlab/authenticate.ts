/**
 * Who may deliver: the policy that combines GitLab's two mechanisms.
 *
 * - A mechanism is "configured" when its secret exists in SSM (secret token, signing key).
 * - Every configured mechanism whose credential the request carries must verify: a present but
 *   wrong token, or a present but wrong/stale/malformed signature, is always refused.
 * - At least one configured mechanism must verify (token only, signature only, or both).
 * - Credentials for a mechanism that is not configured are ignored (they cannot be checked).
 * - With `requireSignature`, a valid signature is mandatory even when the token matches.
 * Callers answer every refusal the same way (401), so a client never learns which check failed.
 */
import { secretTokenMatches } from "./secret-token.js";
import { hasSignatureHeaders, type SignedDeliveryHeaders, verifySignature } from "./signature.js";

export interface DeliveryCredentials {
  /** `X-Gitlab-Token`, if sent. */
  secretToken: string | undefined;
  signature: SignedDeliveryHeaders;
}

export interface WebhookSecrets {
  /** The configured `X-Gitlab-Token` value, or null when none is stored. */
  secretToken: string | null;
  /** The decoded signing key, or null when no signing token is configured. */
  signingKey: Buffer | null;
}

export interface AuthenticationOptions {
  body: Buffer;
  nowSeconds: number;
  toleranceSeconds: number;
  requireSignature: boolean;
}

export type Mechanism = "token" | "signature";

export type AuthenticationResult = { ok: true; verifiedBy: Mechanism[] } | { ok: false; reason: string };

export function authenticateDelivery(
  credentials: DeliveryCredentials,
  secrets: WebhookSecrets,
  options: AuthenticationOptions,
): AuthenticationResult {
  const verifiedBy: Mechanism[] = [];
  if (secrets.signingKey !== null && hasSignatureHeaders(credentials.signature)) {
    const check = verifySignature(credentials.signature, {
      key: secrets.signingKey,
      body: options.body,
      nowSeconds: options.nowSeconds,
      toleranceSeconds: options.toleranceSeconds,
    });
    if (!check.ok) return { ok: false, reason: `signature-${check.reason}` };
    verifiedBy.push("signature");
  }
  if (secrets.secretToken !== null && credentials.secretToken !== undefined) {
    if (!secretTokenMatches(credentials.secretToken, secrets.secretToken))
      return { ok: false, reason: "token-mismatch" };
    verifiedBy.push("token");
  }
  if (options.requireSignature && !verifiedBy.includes("signature"))
    return { ok: false, reason: "signature-required" };
  if (verifiedBy.length === 0) return { ok: false, reason: "no-verifiable-credential" };
  return { ok: true, verifiedBy };
}
