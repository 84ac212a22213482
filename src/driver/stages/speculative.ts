/**
 * prepare's part of the speculative start (src/fargate/speculative-task.ts): the metrics of a speculative task the
 * backend adopted or replaced, and the recipe of the job's task recorded for the next job of the same name.
 */
import { taskCost } from "../../observability/cost.js";
import { METRICS } from "../../observability/metric-names.js";
import type { JobIdentity, SpeculativeEvent, StartedTask } from "../backend.js";
import type { DriverContext, RunnerJobSettings } from "./context.js";
import { priceRegionFromEnv } from "./task-cost.js";

const DAY_MS = 24 * 3600 * 1000;

export function emitSpeculativeMetrics(
  ctx: Pick<DriverContext, "metrics" | "log">,
  identity: JobIdentity,
  event: SpeculativeEvent,
  region = priceRegionFromEnv(),
): void {
  const properties = { jobId: identity.jobId, taskId: event.taskId };
  if (event.outcome === "adopted") {
    ctx.metrics?.count?.(METRICS.speculativeJobTaskAdopted, properties);
    return;
  }
  ctx.metrics?.count?.(METRICS.speculativeJobTaskReplaced, { ...properties, reason: event.reason });
  try {
    const { usd, priceRegion } = taskCost(event.task, event.seconds, region);
    ctx.metrics?.usd?.(METRICS.speculativeJobTaskReplacedCostUsd, usd, { ...properties, priceRegion });
  } catch (error) {
    ctx.log("warn", "could not price the replaced speculative task", { error: (error as Error).message });
  }
}

/** Records the task's recipe under the job's name; never awaited by the job, and its failure only logged. */
export function recordRecipe(
  ctx: Pick<DriverContext, "onJobRecipe" | "log">,
  settings: Pick<RunnerJobSettings, "speculativeStart">,
  identity: JobIdentity,
  jobName: string | undefined,
  task: Pick<StartedTask, "recipe">,
): void {
  const projectId = Number(identity.projectId);
  const speculative = settings.speculativeStart;
  if (!task.recipe || !jobName || !speculative?.enabled || !Number.isSafeInteger(projectId)) return;
  void ctx
    .onJobRecipe?.(
      { runnerName: identity.runnerName, projectId, jobName },
      task.recipe,
      speculative.shapeTtlDays * DAY_MS,
    )
    .catch((error: Error) => ctx.log("warn", "could not record the job's recipe", { error: error.message }));
}
