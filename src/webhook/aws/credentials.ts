/**
 * Credentials for the lean client: the environment, which is where Lambda puts the execution role's
 * temporary keys (re-read on every call, so a refreshed set is picked up). There is deliberately no
 * provider chain (profiles, SSO, IMDS): bundling the SDK's would add ~300 KB to the webhook's cold
 * start for a case Lambda never has. To run the handler by hand against AWS, export the keys first,
 * e.g. `eval "$(aws configure export-credentials --format env)"`.
 */
import type { AwsCredentials } from "./sigv4.js";

export type CredentialSource = () => Promise<AwsCredentials>;

export class MissingCredentialsError extends Error {
  override name = "MissingCredentialsError";
}

export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

export function environmentCredentialSource(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  return async () => {
    const credentials = credentialsFromEnv(env);
    if (!credentials) {
      throw new MissingCredentialsError(
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set (Lambda sets them; by hand: aws configure export-credentials --format env)",
      );
    }
    return credentials;
  };
}
