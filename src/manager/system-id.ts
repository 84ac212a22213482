/**
 * A stable `.runner_system_id` per runner configuration.
 *
 * gitlab-runner identifies each "runner manager" of a runner (token) by a system id read from
 * `.runner_system_id` next to config.toml (format `^[sr]_[0-9a-zA-Z]{12}$`; when the file is missing it makes one
 * from the machine id, or a random one). Every Fargate task is a new machine, so without a fixed id each start
 * would add another runner manager in GitLab. We derive the id from the runner configuration instead: the same
 * deployment and runner name give the same id on every start, another deployment or runner gets another id.
 */
import { createHmac } from "node:crypto";
import { writeFile } from "node:fs/promises";

/** What gitlab-runner accepts; anything else in the file is ignored and replaced by a machine-derived id. */
export const SYSTEM_ID_PATTERN = /^[sr]_[0-9a-zA-Z]{12}$/;

export interface SystemIdSource {
  /** Runner configuration name (unique within a deployment). */
  runnerName: string;
  /**
   * Something stable that tells deployments apart, so two stacks serving the same GitLab do not share ids
   * (the manager passes the GitLab URL and the state table name, both fixed for a deployment's lifetime).
   */
  deploymentSeed: string;
}

/** `s_` + 12 hex characters of an HMAC, like gitlab-runner's own machine-derived ids. */
export function systemIdFor(source: SystemIdSource): string {
  const mac = createHmac("sha256", source.deploymentSeed).update(
    `serverless-gitlab-runner:${source.runnerName}`,
  );
  return `s_${mac.digest("hex").slice(0, 12)}`;
}

/** Writes the id where gitlab-runner reads it (mode 0600, no newline, as the runner itself writes it). */
export async function writeSystemIdFile(path: string, systemId: string): Promise<void> {
  if (!SYSTEM_ID_PATTERN.test(systemId)) throw new Error(`not a runner system id: '${systemId}'`);
  await writeFile(path, systemId, { mode: 0o600 });
}
