/**
 * Job status records for the reconciler and the queue-to-start metrics. GitLab does not deliver hooks in
 * order, so a record only moves forward along created < pending < running < finished (conditional update),
 * and a repeated delivery of the same status changes nothing.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type JobEventInput, toEpochMs } from "../events/job-event.js";
import { METRICS } from "../observability/metric-names.js";
import type { LogSink, MetricsSink } from "../observability/sinks.js";
import {
  DAY_MS,
  expiresAtFor,
  isConditionalFailure,
  JOB_SK,
  type JobItem,
  jobPk,
  PENDING_PK,
  type PendingItem,
  pendingSk,
  type StateDb,
  TTL_ATTRIBUTE,
} from "./table.js";

export const STATUS_RANK: Readonly<Record<string, number>> = {
  created: 0,
  pending: 1,
  running: 2,
  success: 3,
  failed: 3,
  canceled: 3,
};
const RUNNING_RANK = 2;
const FINISHED_RANK = 3;
/** Job records and pending markers outlive any job GitLab still keeps pending (it drops those after a day). */
const JOB_RECORD_TTL_MS = 7 * DAY_MS;
export const PENDING_MARKER_TTL_MS = 2 * DAY_MS;

export type RecordOutcome = "recorded" | "stale-or-duplicate" | "ignored-status";

export interface JobRecordDeps {
  db: StateDb;
  tableName: string;
  logger: LogSink;
  metrics: MetricsSink;
  /** Estimated cost (USD) of a finished job that ran this long; undefined when it cannot be priced. */
  jobCostUsd?: (event: JobEventInput, runningSeconds: number) => number | undefined;
}

/** Records one job event; emits the queue-to-start metrics when the job reaches running. */
export async function recordJobEvent(
  deps: JobRecordDeps,
  event: JobEventInput,
  nowMs: number,
): Promise<RecordOutcome> {
  const rank = STATUS_RANK[event.status];
  if (rank === undefined) return "ignored-status";
  const seenAt = toEpochMs(event.receivedAt) ?? nowMs;
  const seenAttr =
    rank === 1
      ? "pendingSeenAt"
      : rank === RUNNING_RANK
        ? "runningSeenAt"
        : rank === FINISHED_RANK
          ? "finishedSeenAt"
          : "createdSeenAt";
  let previous: Partial<JobItem> | undefined;
  try {
    const out = await deps.db.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { pk: jobPk(event.projectId, event.jobId), sk: JOB_SK },
        UpdateExpression:
          "SET #status = :status, statusRank = :rank, projectId = :project, jobId = :job, updatedAt = :now, #ttl = :exp, #seen = if_not_exists(#seen, :seen)",
        ConditionExpression: "attribute_not_exists(pk) OR statusRank < :rank",
        ExpressionAttributeNames: { "#status": "status", "#seen": seenAttr, "#ttl": TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ":status": event.status,
          ":rank": rank,
          ":project": event.projectId,
          ":job": event.jobId,
          ":now": nowMs,
          ":exp": expiresAtFor(nowMs, JOB_RECORD_TTL_MS),
          ":seen": seenAt,
        },
        ReturnValues: "ALL_OLD",
      }),
    );
    previous = out.Attributes as Partial<JobItem> | undefined;
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
    // A repeat (EventBridge retry after a failure below) or an older status: redo the idempotent side
    // writes so a retry completes what the first attempt left undone.
    if (rank >= RUNNING_RANK) await clearPending(deps, event.projectId, event.jobId);
    if (rank === 1 && (await readJob(deps, event.projectId, event.jobId))?.statusRank === 1) {
      await markPending(deps, event.projectId, event.jobId, seenAt, nowMs);
    }
    return "stale-or-duplicate";
  }

  if (rank === RUNNING_RANK) emitQueueToStart(deps, event, previous, seenAt);
  if (rank === FINISHED_RANK) {
    deps.metrics.count(event.status === "success" ? METRICS.jobSucceeded : METRICS.jobFailed);
    emitJobDurationAndCost(deps, event, previous, seenAt);
  }
  if (rank === 1) await markPending(deps, event.projectId, event.jobId, seenAt, nowMs);
  if (rank >= RUNNING_RANK) await clearPending(deps, event.projectId, event.jobId);
  return "recorded";
}

/** The job's record, read consistently (the reconciler; a repeated pending event checks the rank). */
export async function readJob(
  deps: Pick<JobRecordDeps, "db" | "tableName">,
  projectId: number,
  jobId: number,
): Promise<JobItem | undefined> {
  const out = await deps.db.send(
    new GetCommand({
      TableName: deps.tableName,
      Key: { pk: jobPk(projectId, jobId), sk: JOB_SK },
      ConsistentRead: true,
    }),
  );
  return out.Item as JobItem | undefined;
}

function emitQueueToStart(
  deps: JobRecordDeps,
  event: JobEventInput,
  previous: Partial<JobItem> | undefined,
  runningAt: number,
) {
  if (typeof event.queuedDurationSeconds === "number") {
    deps.metrics.seconds(METRICS.jobQueuedSeconds, event.queuedDurationSeconds);
  }
  const pendingAt = previous?.pendingSeenAt;
  if (typeof pendingAt === "number" && runningAt >= pendingAt) {
    deps.metrics.seconds(METRICS.jobPendingToRunningSeconds, (runningAt - pendingAt) / 1000);
  }
}

/** Job duration (our running → finished sightings) and its estimated cost, when both ends were seen. */
function emitJobDurationAndCost(
  deps: JobRecordDeps,
  event: JobEventInput,
  previous: Partial<JobItem> | undefined,
  finishedAt: number,
) {
  const runningAt = previous?.runningSeenAt;
  if (typeof runningAt !== "number" || finishedAt < runningAt) return;
  const seconds = (finishedAt - runningAt) / 1000;
  deps.metrics.seconds(METRICS.jobDurationSeconds, seconds);
  const usd = deps.jobCostUsd?.(event, seconds);
  if (usd !== undefined) deps.metrics.value?.(METRICS.jobEstimatedCostUsd, usd);
}

/** Adds the job to the set the reconciler re-checks (keeps the first sighting on repeats). */
export async function markPending(
  deps: Pick<JobRecordDeps, "db" | "tableName">,
  projectId: number,
  jobId: number,
  seenAt: number,
  nowMs: number,
): Promise<void> {
  const item: PendingItem = {
    pk: PENDING_PK,
    sk: pendingSk(projectId, jobId),
    projectId,
    jobId,
    firstSeenAt: seenAt,
    ttl: expiresAtFor(nowMs, PENDING_MARKER_TTL_MS),
  };
  try {
    await deps.db.send(
      new PutCommand({
        TableName: deps.tableName,
        Item: item,
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
  }
}

export async function clearPending(
  deps: Pick<JobRecordDeps, "db" | "tableName">,
  projectId: number,
  jobId: number,
) {
  await deps.db.send(
    new DeleteCommand({
      TableName: deps.tableName,
      Key: { pk: PENDING_PK, sk: pendingSk(projectId, jobId) },
    }),
  );
}
