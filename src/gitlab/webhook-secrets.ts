/**
 * The webhook's secrets, read from SSM SecureStrings (WithDecryption) and cached per Lambda container.
 *
 * Rotation: a container re-reads SSM once its copy is older than `ttlSeconds`, so a rotated value is in
 * force everywhere within that TTL (plus one in-flight request). During the window a container may
 * still hold the old value: rotate by updating GitLab and SSM close together, or, with signing tokens,
 * let GitLab send both signatures during the switch (several `v1,` entries are accepted). If SSM
 * cannot be read when the copy expires, the stale copy keeps serving (logged) rather than refusing
 * authentic deliveries; with no copy at all the provider throws and the handler answers 503.
 */
import type { GetParametersRequest, GetParametersResult } from "@aws-sdk/client-ssm";
import type { WebhookSecrets } from "./authenticate.js";
import { normaliseSecretToken } from "./secret-token.js";
import { decodeSigningToken, SigningTokenError } from "./signature.js";

/** The one SSM call the provider makes (SDK types, wire shape); the webhook wires its lean client in. */
export interface SsmParameterReader {
  getParameters(input: GetParametersRequest): Promise<GetParametersResult>;
}

export class SecretsUnavailableError extends Error {
  override name = "SecretsUnavailableError";
}

export interface WebhookSecretProviderOptions {
  ssm: SsmParameterReader;
  secretTokenParameter: string;
  signingTokenParameter?: string | undefined;
  ttlSeconds: number;
  now?: () => number;
  /** Told when a refresh failed and a stale copy is served instead (never given a secret). */
  onStaleServed?: (error: unknown) => void;
}

export interface WebhookSecretProvider {
  get(): Promise<WebhookSecrets>;
}

export function createWebhookSecretProvider(options: WebhookSecretProviderOptions): WebhookSecretProvider {
  const now = options.now ?? Date.now;
  let cached: { secrets: WebhookSecrets; fetchedAt: number } | undefined;
  let inFlight: Promise<WebhookSecrets> | undefined;

  async function load(): Promise<WebhookSecrets> {
    const names = [options.secretTokenParameter];
    if (options.signingTokenParameter) names.push(options.signingTokenParameter);
    const output = await options.ssm.getParameters({ Names: names, WithDecryption: true });
    const parameterValue = (name: string | undefined) =>
      name === undefined ? undefined : output.Parameters?.find((p) => p.Name === name)?.Value;
    const token = parameterValue(options.secretTokenParameter);
    const signing = parameterValue(options.signingTokenParameter);
    const secrets: WebhookSecrets = {
      secretToken: token ? normaliseSecretToken(token) || null : null,
      signingKey: signing ? decodeSigningToken(signing) : null,
    };
    if (secrets.secretToken === null && secrets.signingKey === null) {
      throw new SecretsUnavailableError(
        `neither ${names.join(" nor ")} holds a webhook secret (missing: ${output.InvalidParameters?.join(", ") || "none"})`,
      );
    }
    return secrets;
  }

  async function refresh(): Promise<WebhookSecrets> {
    try {
      const secrets = await load();
      cached = { secrets, fetchedAt: now() };
      return secrets;
    } catch (error) {
      if (cached) {
        options.onStaleServed?.(error);
        // Keep the stale copy for another TTL instead of retrying SSM (and its SDK retries) on every request.
        cached.fetchedAt = now();
        return cached.secrets;
      }
      if (error instanceof SecretsUnavailableError) throw error;
      // Error names and our own messages only: an SDK error message could echo request details.
      const detail = error instanceof SigningTokenError ? error.message : (error as Error).name;
      throw new SecretsUnavailableError(`reading the webhook secrets failed: ${detail}`);
    } finally {
      inFlight = undefined;
    }
  }

  return {
    get(): Promise<WebhookSecrets> {
      if (cached && now() - cached.fetchedAt < options.ttlSeconds * 1000)
        return Promise.resolve(cached.secrets);
      inFlight ??= refresh();
      return inFlight;
    },
  };
}
