/**
 * Pending job → a manager for a runner configuration that can take it, exactly one per configuration.
 * The manager slot (src/state/slots.ts) decides who starts it; everything here is safe to run again
 * (EventBridge retries, reconciler passes), because a held slot turns every repeat into a no-op.
 */
import type { RunnerConfig } from "../config/index.js";
import { type JobEventInput, toEpochMs } from "../events/job-event.js";
import { METRICS } from "../observability/metric-names.js";
import {
  acquireSlot,
  activateSlot,
  claimLivenessCheck,
  freeSlotOfGoneManager,
  readSlot,
  releaseSlot,
  type SlotStore,
} from "../state/slots.js";
import type { SlotItem } from "../state/table.js";
import type { ControlPlaneDeps, GitLabJobsApi } from "./deps.js";
import { describeTaskLiveness, startManagerTask, stopManagerTask } from "./manager-tasks.js";
import { selectRunners } from "./runner-selection.js";
import { wakeRunningManager } from "./wake.js";

/** A STARTING slot older than this belongs to an invocation that died between the slot write and RunTask. */
export const STALE_STARTING_MS = 2 * 60_000;
/** How often (at most) a scale-up asks ECS whether the slot's manager still runs. */
export const LIVENESS_CHECK_INTERVAL_MS = 60_000;

export type EnsureOutcome =
  | { action: "started"; runner: string; taskArn: string; capacity: string }
  | { action: "already-running"; runner: string; taskArn: string | undefined }
  | { action: "starting"; runner: string };

export type PendingJobOutcome =
  | { action: "ignored"; reason: string }
  | { action: "no-matching-runner"; tags: string[] }
  | (EnsureOutcome & { tagsFrom: "api" | "unknown" });

const slotStore = (deps: ControlPlaneDeps): SlotStore => ({
  db: deps.db,
  tableName: deps.resources.stateTableName,
});

/** Starts the runner's manager unless one is active or being started. Throws when the start fails (retry). */
export async function ensureManager(deps: ControlPlaneDeps, runner: RunnerConfig): Promise<EnsureOutcome> {
  const store = slotStore(deps);
  // Three rounds at most: a round only repeats after freeing a dead manager's slot or losing a takeover.
  for (let round = 0; round < 3; round++) {
    const now = deps.now();
    const attempt = await acquireSlot(store, runner.name, now);
    if (attempt.acquired) return startHoldingSlot(deps, runner, attempt.slot);
    const slot = attempt.existing;
    if (!slot) continue; // freed between our write and our read: try again
    if (slot.state === "STARTING") {
      if (now - slot.acquiredAt < STALE_STARTING_MS) return { action: "starting", runner: runner.name };
      deps.logger.warn("taking over a stale STARTING slot", {
        runner: runner.name,
        acquiredAt: slot.acquiredAt,
      });
      const takeover = await acquireSlot(store, runner.name, now, slot);
      if (takeover.acquired) return startHoldingSlot(deps, runner, takeover.slot);
      continue;
    }
    if (await managerIsGone(deps, runner, slot)) continue;
    return { action: "already-running", runner: runner.name, taskArn: slot.taskArn };
  }
  return { action: "starting", runner: runner.name };
}

/** For an ACTIVE slot: asks ECS (at most once per interval across all callers) and frees the slot if the task is gone. */
async function managerIsGone(deps: ControlPlaneDeps, runner: RunnerConfig, slot: SlotItem): Promise<boolean> {
  if (!slot.taskArn) return false;
  const now = deps.now();
  if (!(await claimLivenessCheck(slotStore(deps), slot, now, LIVENESS_CHECK_INTERVAL_MS))) return false;
  const liveness = (await describeTaskLiveness(deps.ecs, deps.resources.clusterArn, [slot.taskArn])).get(
    slot.taskArn,
  );
  if (!liveness || liveness.liveness === "running") return false;
  const reason = `manager task ${liveness.liveness}${liveness.stoppedReason ? `: ${liveness.stoppedReason}` : ""}`;
  const freed = await freeSlotOfGoneManager(slotStore(deps), runner.name, slot.taskArn, reason, now);
  if (freed) {
    deps.logger.error("manager task is gone; slot freed", {
      runner: runner.name,
      taskArn: slot.taskArn,
      reason,
    });
    deps.metrics.count(METRICS.managerCrashed);
  }
  return true;
}

async function startHoldingSlot(
  deps: ControlPlaneDeps,
  runner: RunnerConfig,
  slot: SlotItem,
): Promise<EnsureOutcome> {
  const store = slotStore(deps);
  const { resources } = deps;
  const taskDefinition = resources.managerTaskDefinitions[runner.name];
  let started: Awaited<ReturnType<typeof startManagerTask>>;
  try {
    if (!taskDefinition)
      throw new Error(`no manager task definition for runner '${runner.name}' in SGR_RESOURCES`);
    started = await startManagerTask(
      deps.ecs,
      {
        cluster: resources.clusterArn,
        taskDefinition,
        runnerName: runner.name,
        subnets: resources.subnetIds,
        securityGroups: resources.managerSecurityGroupIds,
        assignPublicIp: resources.assignPublicIp,
        capacity: runner.manager.capacity,
        clientToken: slot.ownerToken,
      },
      (reason) => {
        deps.logger.warn("Fargate Spot has no capacity; starting the manager on FARGATE", {
          runner: runner.name,
          reason,
        });
        deps.metrics.count(METRICS.managerSpotFallback);
      },
    );
  } catch (err) {
    // Give the slot back so the retry (or the next event) can start a manager.
    await releaseSlot(store, runner.name, slot.ownerToken);
    deps.metrics.count(METRICS.managerStartFailed);
    deps.logger.error("manager start failed; slot released", {
      runner: runner.name,
      error: (err as Error).message,
    });
    throw err;
  }
  let activated: boolean;
  try {
    activated = await activateSlot(store, runner.name, slot.ownerToken, started, deps.now());
  } catch (err) {
    // Could not record it: stop it and free the slot rather than leave a manager nobody tracks.
    await stopManagerTask(
      deps.ecs,
      resources.clusterArn,
      started.taskArn,
      "sgr: manager could not be recorded",
    ).catch(() => undefined);
    await releaseSlot(store, runner.name, slot.ownerToken).catch(() => undefined);
    throw err;
  }
  if (!activated) {
    // Our slot was taken over while RunTask ran (we were considered dead): the other start wins.
    await stopManagerTask(deps.ecs, resources.clusterArn, started.taskArn, "sgr: lost the manager slot");
    deps.logger.warn("lost the slot while starting; stopped the extra manager", { runner: runner.name });
    return { action: "starting", runner: runner.name };
  }
  deps.metrics.count(METRICS.managerStarted);
  deps.logger.info("manager started", {
    runner: runner.name,
    taskArn: started.taskArn,
    capacity: started.capacity,
  });
  return { action: "started", runner: runner.name, taskArn: started.taskArn, capacity: started.capacity };
}

/** The job's tags from the API, or undefined when there is no token or the API fails (fail open). */
export async function confirmJob(
  deps: ControlPlaneDeps,
  projectId: number,
  jobId: number,
): Promise<{ pending: boolean; tags: string[] | undefined }> {
  let api: GitLabJobsApi | undefined;
  try {
    api = await deps.gitlab();
  } catch (err) {
    deps.logger.warn("GitLab API token not readable; starting without the REST check", {
      error: (err as Error).message,
    });
    return { pending: true, tags: undefined };
  }
  if (!api) return { pending: true, tags: undefined };
  try {
    const job = await api.getJob(projectId, jobId);
    return { pending: job.status === "pending" && job.runnerId === null, tags: job.tagList };
  } catch (err) {
    deps.logger.warn("GitLab API check failed; failing open", {
      projectId,
      jobId,
      error: (err as Error).message,
    });
    return { pending: true, tags: undefined };
  }
}

/** Picks the configuration for a job and makes sure its manager runs. */
export async function ensureManagerForJob(
  deps: ControlPlaneDeps,
  tags: string[] | undefined,
): Promise<PendingJobOutcome> {
  const candidates = selectRunners(deps.config.runners, tags);
  if (candidates.length === 0) return { action: "no-matching-runner", tags: tags ?? [] };
  const tagsFrom = tags === undefined ? "unknown" : "api";
  if (tags === undefined) {
    // Tags unknown: every configuration might be the one (see runner-selection.ts).
    const outcomes = [];
    for (const runner of candidates) outcomes.push(await ensureManager(deps, runner));
    return { ...(outcomes.find((o) => o.action === "started") ?? outcomes[0]!), tagsFrom };
  }
  // Tags known: one configuration that fits is enough; prefer one whose manager already runs.
  for (const runner of candidates) {
    const slot = await readSlot(slotStore(deps), runner.name);
    if (slot) return { ...(await ensureManager(deps, runner)), tagsFrom };
  }
  return { ...(await ensureManager(deps, candidates[0]!)), tagsFrom };
}

/** The scale-up Lambda's work for one pending-job event. */
export async function handlePendingJob(
  deps: ControlPlaneDeps,
  job: JobEventInput,
): Promise<PendingJobOutcome> {
  if (job.status !== "pending") return { action: "ignored", reason: `status ${job.status}` };
  if (job.runner?.id) return { action: "ignored", reason: "a runner already took the job" };
  const check = await confirmJob(deps, job.projectId, job.jobId);
  if (!check.pending) return { action: "ignored", reason: "GitLab says the job is no longer pending" };
  const outcome = await ensureManagerForJob(deps, check.tags);
  await wakeRunningManager(deps, outcome, job);
  const receivedAt = toEpochMs(job.receivedAt);
  if (outcome.action === "started" && receivedAt !== undefined) {
    // Queue-to-start phase "webhook → manager start request".
    deps.metrics.seconds(
      METRICS.jobWebhookToManagerStartSeconds,
      Math.max(0, deps.now() - receivedAt) / 1000,
    );
  }
  if (outcome.action === "no-matching-runner") {
    deps.logger.info("no runner configuration accepts the job's tags", {
      projectId: job.projectId,
      jobId: job.jobId,
      tags: outcome.tags,
    });
  }
  return outcome;
}
