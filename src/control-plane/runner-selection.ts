/**
 * Which runner configuration(s) should serve a pending job.
 *
 * - Tags known (REST check): the configurations whose tags accept the job's tags, by GitLab's rule.
 * - Tags unknown (no API token, or the API failed: we fail open): one configuration → it; several → all of
 *   them. The webhook does not carry the job's tags, and a job left waiting costs more than a manager that
 *   finds no job and idles out after minRunningSeconds/idleTimeoutSeconds, so we err on starting.
 */
import type { RunnerConfig } from "../config/index.js";
import { runnerAcceptsTags } from "../gitlab/rest-client.js";

export function selectRunners(
  runners: readonly RunnerConfig[],
  jobTags: readonly string[] | undefined,
): RunnerConfig[] {
  if (jobTags === undefined) return [...runners];
  return runners.filter((runner) => runnerAcceptsTags(jobTags, runner));
}
