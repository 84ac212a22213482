/**
 * Layout of the state table (DynamoDB, keys `pk`/`sk`, on demand, TTL attribute `ttl` in epoch seconds:
 * TTL_ATTRIBUTE, which the CDK table definition must name). docs/architecture.md "State table" describes the items; this module is the one place that
 * spells their keys and attribute names.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/** The document client every control-plane module writes through (the handler builds it). */
export type StateDb = Pick<DynamoDBDocumentClient, "send">;

/** The state table and the client to reach it. */
export interface StateStore {
  db: StateDb;
  tableName: string;
}

export const SLOT_SK = "SLOT";
export const MANAGER_SK_PREFIX = "MANAGER#";
export const JOB_SK = "JOB";
export const PENDING_PK = "PENDING";
/** Jobs pending for a running manager of a runner configuration (pending-wake.ts). */
export const WAKE_SK = "WAKE";
/** The scheduler's lease (lease.ts): one item, so one period runs at a time. */
export const SCHEDULER_LEASE_KEY = { pk: "SCHEDULER", sk: "LEASE" } as const;
/** The janitor's task-definition sweep cursor (janitor-cursor.ts): the last family a run finished. */
export const JANITOR_CURSOR_KEY = { pk: "JANITOR", sk: "TASK_DEFINITION_CURSOR" } as const;

export const runnerPk = (runnerName: string) => `RUNNER#${runnerName}`;
export const managerSk = (taskId: string) => `${MANAGER_SK_PREFIX}${taskId}`;
export const jobPk = (projectId: number, jobId: number) => `JOB#${projectId}#${jobId}`;
export const pendingSk = (projectId: number, jobId: number) => `${projectId}#${jobId}`;
/** A job's recorded task recipe: per runner configuration, project and job name (src/state/job-shapes.ts). */
export const jobShapePk = (runnerName: string) => `SHAPE#${runnerName}`;
export const jobShapeSk = (projectId: number, jobName: string) => `${projectId}#${jobName}`;
/** The claim on a job's one speculative start (src/state/job-shapes.ts). */
export const speculativeClaimKey = (runnerName: string, jobId: number) => ({
  pk: `SPECULATIVE#${runnerName}`,
  sk: String(jobId),
});

/** `STARTING`: a scale-up holds it and is running the task; `ACTIVE`: it points at a started manager. */
export type SlotState = "STARTING" | "ACTIVE";

/** The one slot per runner configuration: whoever writes it first starts the manager. */
export interface SlotItem {
  pk: string;
  sk: typeof SLOT_SK;
  state: SlotState;
  /** Random id of the scale-up invocation that took the slot; every later change is conditional on it. */
  ownerToken: string;
  acquiredAt: number;
  taskArn?: string;
  taskId?: string;
  activatedAt?: number;
  /** Last time a scale-up asked ECS whether the slot's manager still runs (at most one asks per interval). */
  checkedAt?: number;
}

export type ManagerState = "STARTING" | "RUNNING" | "DRAINING" | "STOPPED";

/** One record per manager task. The manager container and the driver update it too (see the architecture doc). */
export interface ManagerItem {
  pk: string;
  sk: string;
  runnerName: string;
  taskArn: string;
  taskId: string;
  state: ManagerState;
  /** Capacity the task was placed on (after any Spot → on-demand fallback). */
  capacity: string;
  startedAt: number;
  /** Written by the manager container while it lives. */
  heartbeatAt?: number;
  /** Written by the driver when a job starts (`SET lastJobStartedAt = now ADD runningJobIds :id`). */
  lastJobStartedAt?: number;
  /**
   * Ids of the jobs the driver started on this manager and has not seen finish (a string set: prepare adds, cleanup
   * deletes, both idempotent). DynamoDB removes the attribute when its last id is deleted.
   */
  runningJobIds?: ReadonlySet<string>;
  drainRequestedAt?: number;
  drainReason?: string;
  stoppedAt?: number;
  stopReason?: string;
  ttl?: number;
}

/** A job's latest status, ordered by precedence rather than arrival (GitLab does not deliver in order). */
export interface JobItem {
  pk: string;
  sk: typeof JOB_SK;
  projectId: number;
  jobId: number;
  status: string;
  statusRank: number;
  pendingSeenAt?: number;
  runningSeenAt?: number;
  finishedSeenAt?: number;
  updatedAt: number;
  ttl: number;
}

/** Marker of a job seen pending and not yet seen running: what the reconciler re-checks. */
export interface PendingItem {
  pk: typeof PENDING_PK;
  sk: string;
  projectId: number;
  jobId: number;
  firstSeenAt: number;
  ttl: number;
}

export const DAY_MS = 24 * 3600 * 1000;
/** DynamoDB TTL attribute of the table (a reserved word in expressions: write it through `#ttl`). */
export const TTL_ATTRIBUTE = "ttl";
/** TTL attribute value (epoch seconds) for an item that may vanish after `ttlMs`. */
export const expiresAtFor = (nowMs: number, ttlMs: number) => Math.floor((nowMs + ttlMs) / 1000);

/** The job ids of `runningJobIds` (the document client reads a string set as a Set; tests may give an array). */
export function runningJobIdsOf(manager: Pick<ManagerItem, "runningJobIds">): string[] {
  return [...(manager.runningJobIds ?? [])];
}

/** ECS task id (the last segment of its ARN). */
export function taskIdOf(taskArn: string): string {
  return taskArn.split("/").pop() ?? taskArn;
}

/** DynamoDB conditional failures: a lost race, not an error. */
export function isConditionalFailure(err: unknown): boolean {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] } | undefined;
  if (e?.name === "ConditionalCheckFailedException") return true;
  // A transaction cancelled for a conflict or throttling is not a lost race: the caller must retry it.
  return (
    e?.name === "TransactionCanceledException" &&
    (e.CancellationReasons ?? []).some((reason) => reason.Code === "ConditionalCheckFailed")
  );
}
