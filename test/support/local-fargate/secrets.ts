/**
 * `secrets` of a container definition, resolved as the Fargate agent does before the containers start: an SSM
 * parameter (name or ARN, SecureString decrypted) or a Secrets Manager secret (ARN, optionally
 * `:json-key:version-stage:version-id`). A failure stops the task with a ResourceInitializationError.
 */
import type { Secret } from "@aws-sdk/client-ecs";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import type { MotoClients } from "./moto-clients.js";

export class SecretResolutionError extends Error {}

const SECRETS_MANAGER_ARN = /^arn:aws[a-z-]*:secretsmanager:[^:]+:\d{12}:secret:[^:]+/;

async function fromSecretsManager(clients: MotoClients, valueFrom: string): Promise<string> {
  const base = SECRETS_MANAGER_ARN.exec(valueFrom)?.[0] ?? valueFrom;
  const [jsonKey, versionStage, versionId] = valueFrom.slice(base.length + 1).split(":");
  let secret: string;
  try {
    const out = await clients.secrets.send(
      new GetSecretValueCommand({
        SecretId: base,
        VersionStage: versionStage || undefined,
        VersionId: versionId || undefined,
      }),
    );
    secret = out.SecretString ?? Buffer.from(out.SecretBinary ?? []).toString("utf8");
  } catch (err) {
    throw new SecretResolutionError(
      `ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret ${base} from secrets manager: ${(err as Error).name}: ${(err as Error).message}`,
    );
  }
  if (!jsonKey) return secret;
  let parsed: unknown;
  try {
    parsed = JSON.parse(secret);
  } catch {
    parsed = undefined;
  }
  const value = (parsed as Record<string, unknown> | undefined)?.[jsonKey];
  if (value === undefined) {
    throw new SecretResolutionError(
      `ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: retrieved secret from Secrets Manager did not contain json key ${jsonKey}`,
    );
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

async function fromSsm(clients: MotoClients, valueFrom: string): Promise<string> {
  try {
    const out = await clients.ssm.send(new GetParameterCommand({ Name: valueFrom, WithDecryption: true }));
    return out.Parameter?.Value ?? "";
  } catch (err) {
    const name = valueFrom.replace(/^arn:aws[a-z-]*:ssm:[^:]+:\d{12}:parameter/, "");
    throw new SecretResolutionError(
      `ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: ${name}${(err as Error).name === "ParameterNotFound" ? "" : ` (${(err as Error).message})`}`,
    );
  }
}

/** name → value for every secret of a container. */
export async function resolveSecrets(
  clients: MotoClients,
  secrets: readonly Secret[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const secret of secrets) {
    if (!secret.name || !secret.valueFrom) continue;
    out[secret.name] = SECRETS_MANAGER_ARN.test(secret.valueFrom)
      ? await fromSecretsManager(clients, secret.valueFrom)
      : await fromSsm(clients, secret.valueFrom);
  }
  return out;
}
