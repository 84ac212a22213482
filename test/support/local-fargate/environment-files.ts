/**
 * `environmentFiles` of a container (definition and RunTask override), read as the Fargate agent (platform 1.4)
 * reads them before the containers start: S3 objects (`arn:aws:s3:::bucket/key`, `.env` files of `NAME=value`
 * lines; `#` comments and blank lines skipped), later files winning. A failure stops the task with a
 * ResourceInitializationError.
 */
import type { EnvironmentFile } from "@aws-sdk/client-ecs";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { MotoClients } from "./moto-clients.js";
import { SecretResolutionError } from "./secrets.js";

/** name → value of `NAME=value` lines. */
export function parseEnvironmentFile(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of body.split(/\r?\n/)) {
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const at = line.indexOf("=");
    if (at <= 0) continue;
    out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

export async function readEnvironmentFiles(
  clients: MotoClients,
  files: readonly EnvironmentFile[],
): Promise<Record<string, string>> {
  let out: Record<string, string> = {};
  for (const file of files) {
    const match = /^arn:aws[a-z-]*:s3:::([^/]+)\/(.+\.env)$/.exec(file.value ?? "");
    if (file.type !== "s3" || !match) {
      throw new SecretResolutionError(
        `ResourceInitializationError: failed to download env files: invalid environment file ${file.type} ${file.value}`,
      );
    }
    try {
      const object = await clients.s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }));
      out = { ...out, ...parseEnvironmentFile((await object.Body?.transformToString("utf8")) ?? "") };
    } catch (err) {
      throw new SecretResolutionError(
        `ResourceInitializationError: failed to download env files: file redirector: unable to download env file with key ${match[2]} from bucket ${match[1]}: ${(err as Error).name}: ${(err as Error).message}`,
      );
    }
  }
  return out;
}
