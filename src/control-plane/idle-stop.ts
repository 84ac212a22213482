/**
 * The scheduler's review of one runner configuration's managers, each period:
 * - gone in ECS (crashed, reclaimed) → record STOPPED, slot freed, reported (unless it was draining anyway);
 * - DRAINING past maxJobSeconds + margin, or heartbeat lost → StopTask;
 * - past maxLifetimeSeconds → drained (never killed), so the next pending job starts a fresh one;
 * - idle (running ≥ minRunningSeconds, no job started within idleTimeoutSeconds, no running job in the
 *   record nor in ECS) → drained by a transaction that re-checks idleness against the record, so a job
 *   start recorded by the driver at the same moment makes the drain fail instead of being cut short.
 *   Job ids left in the record's `runningJobIds` by a cleanup that never came are trusted only for as long as
 *   a job can run (see runningJobsCutoff).
 * Draining is the manager's business (SIGQUIT to gitlab-runner: it finishes its jobs, then exits).
 */
import { QueryCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { RunnerConfig } from "../config/index.js";
import { METRICS } from "../observability/metric-names.js";
import { deleteSlotOfTask, freeSlotOfGoneManager, markStoppedUpdate, readSlot } from "../state/slots.js";
import {
  isConditionalFailure,
  MANAGER_SK_PREFIX,
  type ManagerItem,
  runnerPk,
  runningJobIdsOf,
  SLOT_SK,
  type SlotItem,
} from "../state/table.js";
import type { ControlPlaneDeps } from "./deps.js";
import {
  describeTaskLiveness,
  hasRunningJobTasks,
  listManagerTasks,
  stopManagerTask,
} from "./manager-tasks.js";

/** Slack on top of maxJobSeconds before a draining manager is stopped (job cleanup, log upload). */
export const DRAIN_MARGIN_MS = 10 * 60_000;
/** A manager that never heartbeated is given this long to pull its image and start. */
export const STARTUP_GRACE_MS = 10 * 60_000;
/** Heartbeats older than this many schedule periods (and at least 3 minutes) mean the manager is unresponsive. */
export const HEARTBEAT_PERIODS = 3;

/**
 * Job ids the record holds are trusted while they can still be running jobs: until maxJobSeconds + DRAIN_MARGIN_MS
 * after the manager's last job start. Every id was added at or before `lastJobStartedAt` (prepare writes both in
 * one update), and no job runs longer than maxJobSeconds (the janitor stops its task). An id whose cleanup never
 * came (the manager was killed mid-job, a write was lost) so stops keeping an idle manager alive. Checking ids
 * against the job records instead would hang on webhook delivery, which may lag or be lost; the ECS check of the
 * manager's job tasks still catches a job that really runs. And a drain never cuts a job short: gitlab-runner
 * finishes the jobs it has before it exits.
 */
export function runningJobsCutoff(runner: RunnerConfig, nowMs: number): number {
  return nowMs - (runner.jobs.maxJobSeconds * 1000 + DRAIN_MARGIN_MS);
}

/** The record names a running job that can still be running (runningJobsCutoff). */
function recordsRunningJob(manager: ManagerItem, runner: RunnerConfig, nowMs: number): boolean {
  const lastStart = manager.lastJobStartedAt ?? manager.startedAt;
  return runningJobIdsOf(manager).length > 0 && lastStart > runningJobsCutoff(runner, nowMs);
}

export type ManagerDecision =
  | "gone"
  | "crashed"
  | "stopped-drain-overdue"
  | "stopped-unresponsive"
  | "drained-idle"
  | "drained-over-age"
  | "drain-refused"
  | "busy"
  | "kept"
  | "stopped-orphan";

export interface ReviewResult {
  runner: string;
  decisions: { taskArn: string; decision: ManagerDecision }[];
}

/** Managers of a runner configuration that are not STOPPED. */
export async function listLiveManagers(deps: ControlPlaneDeps, runnerName: string): Promise<ManagerItem[]> {
  const items: ManagerItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await deps.db.send(
      new QueryCommand({
        TableName: deps.resources.stateTableName,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        FilterExpression: "#state <> :stopped",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":pk": runnerPk(runnerName),
          ":prefix": MANAGER_SK_PREFIX,
          ":stopped": "STOPPED",
        },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((out.Items ?? []) as ManagerItem[]));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}

export async function reviewManagers(deps: ControlPlaneDeps, runner: RunnerConfig): Promise<ReviewResult> {
  const managers = await listLiveManagers(deps, runner.name);
  const result: ReviewResult = { runner: runner.name, decisions: [] };
  const liveness = await describeTaskLiveness(
    deps.ecs,
    deps.resources.clusterArn,
    managers.map((m) => m.taskArn),
  );
  const slot = await readSlot({ db: deps.db, tableName: deps.resources.stateTableName }, runner.name);
  for (const manager of managers) {
    const decision = await reviewOne(deps, runner, manager, liveness.get(manager.taskArn), slot);
    result.decisions.push({ taskArn: manager.taskArn, decision });
  }
  await freeSlotOfRecordlessManager(deps, runner, slot, managers);
  return result;
}

/**
 * A slot naming a task whose record is already STOPPED (the manager recorded its own exit after a crash of
 * gitlab-runner) is freed once ECS confirms the task is gone, so the next job does not wait for a scale-up
 * liveness check.
 */
async function freeSlotOfRecordlessManager(
  deps: ControlPlaneDeps,
  runner: RunnerConfig,
  slot: SlotItem | undefined,
  live: readonly ManagerItem[],
): Promise<void> {
  if (slot?.state !== "ACTIVE" || !slot.taskArn || live.some((m) => m.taskArn === slot.taskArn)) return;
  const ecs = (await describeTaskLiveness(deps.ecs, deps.resources.clusterArn, [slot.taskArn])).get(
    slot.taskArn,
  );
  if (ecs?.liveness === "running") return;
  const store = { db: deps.db, tableName: deps.resources.stateTableName };
  if (
    await freeSlotOfGoneManager(
      store,
      runner.name,
      slot.taskArn,
      `task ${ecs?.liveness ?? "missing"}`,
      deps.now(),
    )
  ) {
    deps.logger.warn("freed the slot of a manager that is gone", {
      runner: runner.name,
      taskArn: slot.taskArn,
    });
  }
}

async function reviewOne(
  deps: ControlPlaneDeps,
  runner: RunnerConfig,
  manager: ManagerItem,
  ecs: { liveness: string; stoppedReason?: string } | undefined,
  slot: SlotItem | undefined,
): Promise<ManagerDecision> {
  const now = deps.now();
  const { logger, metrics } = deps;
  const log = { runner: runner.name, taskArn: manager.taskArn, state: manager.state };

  if (ecs?.liveness !== "running") {
    const drained = manager.state === "DRAINING";
    const reason = drained
      ? "drained and exited"
      : `crashed: task ${ecs?.liveness ?? "missing"} ${ecs?.stoppedReason ?? ""}`.trim();
    await markStopped(deps, runner.name, manager, slot, reason, now);
    if (!drained) {
      logger.error("manager stopped without draining", { ...log, reason });
      metrics.count(METRICS.managerCrashed);
      return "crashed";
    }
    logger.info("drained manager has exited", log);
    return "gone";
  }

  if (manager.state === "DRAINING") {
    const drainingFor = now - (manager.drainRequestedAt ?? now);
    if (drainingFor > runner.jobs.maxJobSeconds * 1000 + DRAIN_MARGIN_MS) {
      await forceStop(deps, runner.name, manager, slot, "draining longer than maxJobSeconds", now);
      return "stopped-drain-overdue";
    }
    return "kept";
  }

  const periodMs = deps.config.schedulePeriodMinutes * 60_000;
  const heartbeatLimit = Math.max(HEARTBEAT_PERIODS * periodMs, 3 * 60_000);
  const unresponsive =
    manager.heartbeatAt === undefined
      ? now - manager.startedAt > STARTUP_GRACE_MS
      : now - manager.heartbeatAt > heartbeatLimit;
  if (unresponsive) {
    await forceStop(deps, runner.name, manager, slot, "heartbeat lost", now);
    return "stopped-unresponsive";
  }

  const ageMs = now - manager.startedAt;
  if (ageMs >= runner.maxLifetimeSeconds * 1000) {
    metrics.count(METRICS.managerOverAge);
    const drained = await requestDrain(deps, runner.name, manager, slot, "max-lifetime", now);
    if (drained) logger.info("manager past its maximum lifetime asked to drain", log);
    return drained ? "drained-over-age" : "drain-refused";
  }

  if (ageMs < runner.minRunningSeconds * 1000) return "kept";
  const idleCutoff = now - runner.idleTimeoutSeconds * 1000;
  const lastActivity = Math.max(manager.startedAt, manager.lastJobStartedAt ?? 0);
  if (lastActivity > idleCutoff || recordsRunningJob(manager, runner, now)) return "busy";
  if (await hasRunningJobTasks(deps.ecs, deps.resources.clusterArn, manager.taskId)) return "busy";
  const drained = await requestDrain(deps, runner.name, manager, slot, "idle", now, {
    idleCutoff,
    runningJobsCutoff: runningJobsCutoff(runner, now),
  });
  if (drained) {
    metrics.count(METRICS.managerDrained);
    logger.info("idle manager asked to drain", log);
    return "drained-idle";
  }
  logger.info("drain refused: a job started meanwhile", log);
  return "drain-refused";
}

/** What an idle drain re-checks on the record (see reviewOne). */
export interface IdleCheck {
  /** No job may have started after this. */
  idleCutoff: number;
  /** Job ids in `runningJobIds` are running jobs if the last job start is after this (runningJobsCutoff). */
  runningJobsCutoff: number;
}

/**
 * RUNNING/STARTING → DRAINING and the slot deleted, in one transaction. With `idle`, the update also requires
 * that no job started after the cutoff and none is running: the driver's concurrent
 * `SET lastJobStartedAt = now ADD runningJobIds :id` then makes exactly one of the two writes take effect first,
 * and if it is the drain, that job still runs to its end on the draining manager.
 */
export async function requestDrain(
  deps: ControlPlaneDeps,
  runnerName: string,
  manager: ManagerItem,
  slot: SlotItem | undefined,
  reason: string,
  nowMs: number,
  idle?: IdleCheck,
): Promise<boolean> {
  const table = deps.resources.stateTableName;
  const idleCondition =
    idle === undefined
      ? ""
      : " AND startedAt <= :cutoff AND (attribute_not_exists(lastJobStartedAt) OR lastJobStartedAt <= :cutoff)" +
        " AND (attribute_not_exists(runningJobIds) OR lastJobStartedAt <= :jobsCutoff)";
  const values: Record<string, unknown> = {
    ":draining": "DRAINING",
    ":starting": "STARTING",
    ":running": "RUNNING",
    ":now": nowMs,
    ":reason": reason,
  };
  if (idle !== undefined) {
    Object.assign(values, { ":cutoff": idle.idleCutoff, ":jobsCutoff": idle.runningJobsCutoff });
  }
  const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]["TransactItems"]> = [
    {
      Update: {
        TableName: table,
        Key: { pk: manager.pk, sk: manager.sk },
        UpdateExpression: "SET #state = :draining, drainRequestedAt = :now, drainReason = :reason",
        ConditionExpression: `#state IN (:starting, :running)${idleCondition}`,
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: values,
      },
    },
  ];
  if (slot?.taskArn === manager.taskArn) {
    // Free the slot in the same step, so the next pending job starts a new manager at once.
    items.push({
      Delete: {
        TableName: table,
        Key: { pk: runnerPk(runnerName), sk: SLOT_SK },
        ConditionExpression: "taskArn = :arn",
        ExpressionAttributeValues: { ":arn": manager.taskArn },
      },
    });
  }
  try {
    await deps.db.send(new TransactWriteCommand({ TransactItems: items }));
    return true;
  } catch (err) {
    if (isConditionalFailure(err)) return false;
    throw err;
  }
}

/** A STARTING slot younger than this is a start in progress (see STALE_STARTING_MS in scale-up.ts). */
const START_IN_PROGRESS_MS = 2 * 60_000;

/**
 * Manager tasks ECS runs that no live record knows: a RunTask whose answer was lost and was retried (real
 * ECS dedupes by clientToken, this catches the rest), or a start whose holder died before recording it.
 * They are stopped, so "one manager per configuration" holds in ECS too. Skipped while a start is in progress.
 */
export async function sweepOrphanManagers(
  deps: ControlPlaneDeps,
  runner: RunnerConfig,
): Promise<ReviewResult> {
  const result: ReviewResult = { runner: runner.name, decisions: [] };
  // Order matters: tasks first, then slot and records, so a task listed here had its chance to be recorded.
  const running = await listManagerTasks(deps.ecs, deps.resources.clusterArn, runner.name);
  if (running.length === 0) return result;
  const now = deps.now();
  const slot = await readSlot({ db: deps.db, tableName: deps.resources.stateTableName }, runner.name);
  if (slot?.state === "STARTING" && now - slot.acquiredAt < START_IN_PROGRESS_MS) return result;
  const known = new Set((await listLiveManagers(deps, runner.name)).map((m) => m.taskArn));
  for (const taskArn of running) {
    if (known.has(taskArn)) continue;
    await stopManagerTask(
      deps.ecs,
      deps.resources.clusterArn,
      taskArn,
      "sgr: manager task not in the state table",
    );
    deps.metrics.count(METRICS.managerForceStopped);
    deps.logger.warn("stopped a manager task that no record knows", { runner: runner.name, taskArn });
    result.decisions.push({ taskArn, decision: "stopped-orphan" });
  }
  return result;
}

/** Record → STOPPED and, if the slot still points at this task, slot deleted (one transaction). */
async function markStopped(
  deps: ControlPlaneDeps,
  runnerName: string,
  manager: ManagerItem,
  slot: SlotItem | undefined,
  reason: string,
  nowMs: number,
): Promise<void> {
  const table = deps.resources.stateTableName;
  const stop = markStoppedUpdate(table, runnerName, manager.taskArn, reason, nowMs);
  if (slot?.taskArn !== manager.taskArn) {
    await deps.db.send(new UpdateCommand(stop.Update));
    return;
  }
  try {
    await deps.db.send(
      new TransactWriteCommand({
        TransactItems: [stop, deleteSlotOfTask(table, runnerName, manager.taskArn)],
      }),
    );
  } catch (err) {
    // The slot moved on meanwhile: still record the stop.
    if (!isConditionalFailure(err)) throw err;
    await deps.db.send(new UpdateCommand(stop.Update));
  }
}

async function forceStop(
  deps: ControlPlaneDeps,
  runnerName: string,
  manager: ManagerItem,
  slot: SlotItem | undefined,
  reason: string,
  nowMs: number,
): Promise<void> {
  await stopManagerTask(deps.ecs, deps.resources.clusterArn, manager.taskArn, `sgr: ${reason}`);
  await markStopped(deps, runnerName, manager, slot, reason, nowMs);
  deps.metrics.count(METRICS.managerForceStopped);
  deps.logger.warn("manager stopped with StopTask", { runner: runnerName, taskArn: manager.taskArn, reason });
}
