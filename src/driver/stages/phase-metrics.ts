/**
 * The two queue-to-start phases the driver observes (docs/metrics.md), emitted through the daemon's EMF writer:
 * "job task running" (prepare) and "first script byte" (run). Both count from the job's start: GitLab's
 * CI_JOB_STARTED_AT, else prepare's own start (kept on the job's state).
 */
import { METRICS } from "../../observability/metric-names.js";
import { elapsedSeconds, jobStartMs } from "../../observability/phase-timing.js";
import type { StageEnv } from "../job-spec.js";
import type { DriverContext, JobState } from "./context.js";

/** "Job task running": job start → the task's agent answered on the channel. */
export function emitJobTaskRunning(
  ctx: Pick<DriverContext, "metrics">,
  jobId: string,
  startedAtMs: number,
  nowMs = Date.now(),
): void {
  const seconds = elapsedSeconds(startedAtMs, nowMs);
  if (seconds !== undefined) ctx.metrics?.seconds(METRICS.jobTaskRunningSeconds, seconds, { jobId });
}

/**
 * "First script byte": job start → the first output byte of the first user-image (build container) stage, once
 * per job. Returns the callback to run on that stage's first output, or undefined when there is nothing left to
 * measure for this job (already emitted, or no metrics), so later output costs nothing.
 */
export function firstScriptByteMetric(
  ctx: Pick<DriverContext, "metrics">,
  job: Pick<JobState, "identity" | "startedAtMs" | "firstScriptByteSeen">,
  env: StageEnv,
  now: () => number = Date.now,
): (() => void) | undefined {
  const metrics = ctx.metrics;
  if (job.firstScriptByteSeen || !metrics) return undefined;
  return () => {
    if (job.firstScriptByteSeen) return;
    job.firstScriptByteSeen = true;
    // A job reattached by a restarted daemon lost prepare's start; GitLab's start time still works.
    const startedAtMs = job.startedAtMs ?? jobStartMs(env.CUSTOM_ENV_CI_JOB_STARTED_AT, Number.NaN);
    const seconds = elapsedSeconds(startedAtMs, now());
    if (seconds !== undefined) {
      metrics.seconds(METRICS.jobFirstScriptByteSeconds, seconds, { jobId: job.identity.jobId });
    }
  };
}
