/**
 * Cost of one job's task, emitted at cleanup: JobTaskSeconds (task started → stopped) and JobTaskCostUsd priced
 * with src/observability/cost.ts at the size, architecture and capacity the task really ran with. Unlike the
 * job-status function's JobEstimatedCostUsd (default job size), this one knows the job's actual size.
 */
import { taskCost } from "../../observability/cost.js";
import { METRICS } from "../../observability/metric-names.js";
import type { DriverContext, JobState } from "./context.js";

/** Region whose prices apply: the manager task's own (the job tasks run in the same region). */
export function priceRegionFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
}

/**
 * Emits the job task's run time and cost once per job; returns the cost in USD, or undefined when nothing was
 * emitted (no usage known — e.g. a job recovered after a daemon restart — or already emitted).
 */
export function emitJobTaskCost(
  ctx: Pick<DriverContext, "metrics" | "log">,
  job: Pick<JobState, "identity" | "usage">,
  nowMs = Date.now(),
  region = priceRegionFromEnv(),
): number | undefined {
  const usage = job.usage;
  if (!usage || usage.costEmitted) return undefined;
  usage.costEmitted = true;
  const seconds = Math.max(0, nowMs - usage.startedAtMs) / 1000;
  try {
    const { usd, priceRegion } = taskCost(usage.task, seconds, region);
    const properties = {
      jobId: job.identity.jobId,
      cpu: usage.task.cpu,
      memoryMiB: usage.task.memoryMiB,
      architecture: usage.task.architecture,
      capacity: usage.task.capacity,
      priceRegion,
    };
    ctx.metrics?.seconds(METRICS.jobTaskSeconds, seconds, properties);
    ctx.metrics?.usd?.(METRICS.jobTaskCostUsd, usd, properties);
    return usd;
  } catch (error) {
    // A metric must never fail a cleanup.
    ctx.log("warn", "could not price the job task", { error: (error as Error).message });
    return undefined;
  }
}
