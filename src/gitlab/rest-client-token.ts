/**
 * The read_api token of the REST client comes from an SSM SecureString. It is cached per Lambda container
 * for a short time so a burst of events costs one SSM call, and a rotated token is picked up within the TTL.
 */
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { GitLabRestClient, type GitLabRestClientOptions } from "./rest-client.js";

export interface ApiTokenSource {
  /** The token, or undefined when no parameter is configured (the REST checks are then skipped). */
  get(): Promise<string | undefined>;
}

export function ssmApiTokenSource(
  ssm: Pick<SSMClient, "send">,
  parameterName: string | undefined,
  ttlMs = 60_000,
  now: () => number = Date.now,
): ApiTokenSource {
  let cached: { value: string; until: number } | undefined;
  let inFlight: Promise<string> | undefined;
  return {
    async get() {
      if (!parameterName) return undefined;
      if (cached && cached.until > now()) return cached.value;
      // One SSM call however many concurrent callers ask at once.
      inFlight ??= ssm
        .send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }))
        .then((out) => {
          const value = out.Parameter?.Value;
          if (!value) throw new Error(`SSM parameter ${parameterName} has no value`);
          cached = { value, until: now() + ttlMs };
          return value;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
  };
}

/** A REST client for the configured instance, or undefined when no token is configured. */
export async function restClientFromTokenSource(
  baseUrl: string,
  tokens: ApiTokenSource,
  options: Omit<GitLabRestClientOptions, "baseUrl" | "token"> = {},
): Promise<GitLabRestClient | undefined> {
  const token = await tokens.get();
  return token ? new GitLabRestClient({ ...options, baseUrl, token }) : undefined;
}
