/**
 * Scale-up's speculative start: for a pending job whose (project, job name) has a recorded recipe, the job's task
 * starts at once, while the manager starts (cold) or before it takes the job (warm), so the job waits for one
 * Fargate start instead of two. The driver adopts it or stops it (src/fargate/speculative-task.ts); its agent
 * exits when nobody connects within the adopt deadline. Never fails the pending-job event: a speculative start
 * that does not happen only costs the time it would have saved.
 */
import { randomBytes } from "node:crypto";
import type { RunnerConfig } from "../config/index.js";
import type { JobEventInput } from "../events/job-event.js";
import type { ChannelSecretStore } from "../fargate/channel-secrets.js";
import { errorMessage, isThrottling } from "../fargate/ecs.js";
import { runOneTask, withSpotFallback } from "../fargate/run-task.js";
import {
  asJobTaskRecipe,
  type JobTaskRecipe,
  secretFileKey,
  speculativeRunTaskInput,
} from "../fargate/speculative-task.js";
import { taskCost } from "../observability/cost.js";
import { METRICS } from "../observability/metric-names.js";
import { claimSpeculativeStart, readJobRecipe, releaseSpeculativeStart } from "../state/job-shapes.js";
import type { ControlPlaneDeps } from "./deps.js";
import type { PendingJobOutcome } from "./scale-up.js";

/** Image pull to agent start of a job task, billed before the adopt deadline starts counting (a typical figure). */
export const TYPICAL_START_SECONDS = 60;

export type SpeculativeOutcome =
  | { action: "started"; taskArn: string; capacity: string }
  | { action: "skipped"; reason: string }
  | { action: "failed"; error: string };

export interface SpeculativeDeps extends ControlPlaneDeps {
  /** Where secret files go; without it (no bucket deployed) nothing starts speculatively. */
  channelSecrets?: ChannelSecretStore;
  /** Region whose Fargate prices the at-risk cost uses. */
  region?: string;
}

/** The runner configuration the pending-job outcome chose, when a manager serves or will serve the job. */
function chosenRunner(deps: ControlPlaneDeps, outcome: PendingJobOutcome): RunnerConfig | undefined {
  if (outcome.action !== "started" && outcome.action !== "already-running" && outcome.action !== "starting")
    return undefined;
  return deps.config.runners.find((r) => r.name === outcome.runner);
}

/** Starts the job's task speculatively when it can; says what it did. Never throws. */
export async function startSpeculativeJobTask(
  deps: SpeculativeDeps,
  job: JobEventInput,
  outcome: PendingJobOutcome,
): Promise<SpeculativeOutcome> {
  const runner = chosenRunner(deps, outcome);
  if (!runner) return { action: "skipped", reason: `no manager serves the job (${outcome.action})` };
  if (!runner.jobs.speculativeStart.enabled) return { action: "skipped", reason: "turned off" };
  if (!deps.channelSecrets) return { action: "skipped", reason: "no secret bucket deployed" };
  if (!job.jobName) return { action: "skipped", reason: "the event names no job" };
  const store = { db: deps.db, tableName: deps.resources.stateTableName };
  try {
    const recipe = asJobTaskRecipe(
      await readJobRecipe(
        store,
        { runnerName: runner.name, projectId: job.projectId, jobName: job.jobName },
        deps.now(),
      ),
    );
    if (!recipe) return { action: "skipped", reason: "no recipe recorded for this job name" };
    if (!(await claimSpeculativeStart(store, runner.name, job.jobId, deps.now())))
      return { action: "skipped", reason: "already started for this job" };
    return await launch(deps, deps.channelSecrets, runner, job, recipe).catch(async (err: unknown) => {
      await releaseSpeculativeStart(store, runner.name, job.jobId).catch(() => undefined);
      throw err;
    });
  } catch (err) {
    deps.metrics.count(METRICS.speculativeJobTaskStartFailed);
    deps.logger.warn("speculative job task not started", { jobId: job.jobId, error: errorMessage(err) });
    return { action: "failed", error: errorMessage(err) };
  }
}

async function launch(
  deps: SpeculativeDeps,
  secrets: ChannelSecretStore,
  runner: RunnerConfig,
  job: JobEventInput,
  recipe: JobTaskRecipe,
): Promise<SpeculativeOutcome> {
  const { resources } = deps;
  const nonce = randomBytes(16).toString("hex");
  const secretFileArn = await secrets.put(
    secretFileKey(runner.name, job.jobId, nonce),
    randomBytes(32).toString("hex"),
  );
  const deadline = runner.jobs.speculativeStart.adoptDeadlineSeconds;
  const spec = {
    cluster: resources.clusterArn,
    recipe,
    runnerName: runner.name,
    projectId: job.projectId,
    jobId: job.jobId,
    secretFileArn,
    adoptDeadlineSeconds: deadline,
    subnets: resources.subnetIds,
    securityGroups: resources.jobSecurityGroupIds,
    assignPublicIp: resources.assignPublicIp,
  };
  const started = await withSpotFallback(
    recipe.capacity,
    (capacity) =>
      runOneTask(
        deps.ecs,
        // One start per job and capacity, however often the SDK retries the call.
        { ...speculativeRunTaskInput(spec, capacity), clientToken: `${nonce}-${capacity}`.slice(0, 64) },
        { retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000, isRetryable: isThrottling } },
      ),
    (reason) => deps.logger.info("Fargate Spot has no capacity; speculative job task on FARGATE", { reason }),
  );
  const taskArn = started.value.taskArn ?? "";
  deps.metrics.count(METRICS.speculativeJobTaskStarted);
  // What the task costs if nobody adopts it: billed from its image pull, it lives until its agent's deadline.
  const atRisk = taskCost(
    { ...recipe, capacity: started.capacity, publicIpv4: resources.assignPublicIp },
    deadline + TYPICAL_START_SECONDS,
    deps.region ?? "us-east-1",
  );
  deps.metrics.value?.(METRICS.speculativeJobTaskAtRiskCostUsd, atRisk.usd);
  deps.logger.info("speculative job task started", {
    jobId: job.jobId,
    taskArn,
    capacity: started.capacity,
    taskDefinitionArn: recipe.taskDefinitionArn,
  });
  return { action: "started", taskArn, capacity: started.capacity };
}
