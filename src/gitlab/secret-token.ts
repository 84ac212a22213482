/**
 * GitLab's `X-Gitlab-Token`: a shared secret sent verbatim (GitLab strips line breaks from it).
 * Compared in constant time over SHA-256 digests, so neither the content nor the length of the
 * expected secret leaks through timing.
 */
// process.getBuiltinModule, not an ESM import: the ESM facade of a builtin evaluates every lazy export
// (node:http's pulls in undici, ~50 ms of cold start in the webhook bundle).
const { createHash, timingSafeEqual } = process.getBuiltinModule("node:crypto");

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** The form GitLab sends a configured token in: line breaks removed. Applied to the stored secret too. */
export function normaliseSecretToken(secret: string): string {
  return secret.replace(/[\r\n]/g, "");
}

/** True when the header value equals the expected secret. An absent header never matches. */
export function secretTokenMatches(provided: string | undefined, expected: string): boolean {
  if (provided === undefined || expected.length === 0) return false;
  return timingSafeEqual(digest(provided), digest(normaliseSecretToken(expected)));
}
