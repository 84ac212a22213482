/**
 * The manager's own record in the state table (docs/architecture.md "State table"), seen from inside the
 * manager task. Keys and names come from table.ts, which owns the table layout.
 *
 * The record is created by scale-up (state STARTING) in the same transaction that activates the slot, with
 * `attribute_not_exists(pk)`. So the manager only ever UPDATES an existing record: creating it first would make
 * that transaction fail and scale-up stop this task. Every write is conditional on the record naming this task.
 */
import { GetCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { deleteSlotOfTask } from "./slots.js";
import {
  isConditionalFailure,
  type ManagerItem,
  type ManagerState,
  managerSk,
  runnerPk,
  runningJobIdsOf,
  type StateDb,
  taskIdOf,
} from "./table.js";

/** What the manager learns from its record: a state, or that the record does not exist (yet). */
export type RecordState = ManagerState | "MISSING";

export interface ManagerRecordRef {
  db: StateDb;
  tableName: string;
  runnerName: string;
  taskArn: string;
}

function keyOf(ref: ManagerRecordRef) {
  return { pk: runnerPk(ref.runnerName), sk: managerSk(taskIdOf(ref.taskArn)) };
}

/** Current state, read consistently (a drain request must be seen on the next poll, not eventually). */
export async function readManagerState(ref: ManagerRecordRef): Promise<RecordState> {
  const out = await ref.db.send(
    new GetCommand({
      TableName: ref.tableName,
      Key: keyOf(ref),
      ConsistentRead: true,
      ProjectionExpression: "#state, taskArn",
      ExpressionAttributeNames: { "#state": "state" },
    }),
  );
  const item = out.Item as { state?: ManagerState; taskArn?: string } | undefined;
  if (!item?.state || item.taskArn !== ref.taskArn) return "MISSING";
  return item.state;
}

/** The jobs the driver runs on this manager: how many (the `runningJobIds` set), and when the last one started. */
export interface JobLoad {
  running: number;
  /** Epoch ms of the newest job start (`lastJobStartedAt`); undefined before the first. */
  lastJobStartedAt: number | undefined;
}

export async function readJobLoad(ref: ManagerRecordRef): Promise<JobLoad> {
  const out = await ref.db.send(
    new GetCommand({
      TableName: ref.tableName,
      Key: keyOf(ref),
      ConsistentRead: true,
      ProjectionExpression: "runningJobIds, lastJobStartedAt",
    }),
  );
  const item = (out.Item as Pick<ManagerItem, "runningJobIds" | "lastJobStartedAt"> | undefined) ?? {};
  return { running: runningJobIdsOf(item).length, lastJobStartedAt: item.lastJobStartedAt };
}

/**
 * STARTING → RUNNING and a first heartbeat. A record already DRAINING or STOPPED (the scheduler or a liveness
 * check got there first) is left as it is; the returned state tells the caller to drain.
 * `onStartingToRunning` is called once, on the write that moved the record out of STARTING, with scale-up's
 * start request time (`startedAt`), so the "manager running" phase is measured exactly once per manager.
 */
export async function markRunning(
  ref: ManagerRecordRef,
  nowMs: number,
  onStartingToRunning?: (startRequestedAtMs: number | undefined) => void,
): Promise<RecordState> {
  try {
    const out = await ref.db.send(
      new UpdateCommand({
        TableName: ref.tableName,
        Key: keyOf(ref),
        UpdateExpression: "SET #state = :running, heartbeatAt = :now, runningSince = :now",
        ConditionExpression: "taskArn = :arn AND #state IN (:starting, :running)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":running": "RUNNING",
          ":starting": "STARTING",
          ":now": nowMs,
          ":arn": ref.taskArn,
        },
        ReturnValues: "ALL_OLD",
      }),
    );
    const before = out.Attributes as { state?: ManagerState; startedAt?: unknown } | undefined;
    if (before?.state === "STARTING") {
      onStartingToRunning?.(typeof before.startedAt === "number" ? before.startedAt : undefined);
    }
    return "RUNNING";
  } catch (err) {
    if (isConditionalFailure(err)) return readManagerState(ref);
    throw err;
  }
}

/** Liveness for the scheduler's crashed-manager check; written while RUNNING and while DRAINING. */
export async function heartbeat(ref: ManagerRecordRef, nowMs: number): Promise<RecordState> {
  try {
    const out = await ref.db.send(
      new UpdateCommand({
        TableName: ref.tableName,
        Key: keyOf(ref),
        UpdateExpression: "SET heartbeatAt = :now",
        ConditionExpression: "taskArn = :arn AND #state IN (:running, :draining)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":now": nowMs,
          ":arn": ref.taskArn,
          ":running": "RUNNING",
          ":draining": "DRAINING",
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    return (out.Attributes?.state as ManagerState | undefined) ?? "MISSING";
  } catch (err) {
    if (isConditionalFailure(err)) return readManagerState(ref);
    throw err;
  }
}

function drainUpdate(ref: ManagerRecordRef, reason: string, nowMs: number) {
  return {
    TableName: ref.tableName,
    Key: keyOf(ref),
    UpdateExpression: "SET #state = :draining, drainRequestedAt = :now, drainReason = :reason",
    ConditionExpression: "taskArn = :arn AND #state IN (:starting, :running)",
    ExpressionAttributeNames: { "#state": "state" },
    ExpressionAttributeValues: {
      ":draining": "DRAINING",
      ":starting": "STARTING",
      ":running": "RUNNING",
      ":now": nowMs,
      ":reason": reason,
      ":arn": ref.taskArn,
    },
  };
}

/**
 * The manager drains on its own (SIGTERM from ECS stop or a Spot reclaim): record → DRAINING and, when the slot
 * still points at this task, the slot is freed in the same transaction, so the next pending job starts a new
 * manager instead of waiting for this one to finish. Returns whether the slot was freed.
 */
export async function markSelfDraining(
  ref: ManagerRecordRef,
  reason: string,
  nowMs: number,
): Promise<boolean> {
  try {
    await ref.db.send(
      new TransactWriteCommand({
        TransactItems: [
          deleteSlotOfTask(ref.tableName, ref.runnerName, ref.taskArn),
          { Update: drainUpdate(ref, reason, nowMs) },
        ],
      }),
    );
    return true;
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
  }
  // The slot is not ours (already freed by the scheduler, or never activated): record only.
  try {
    await ref.db.send(new UpdateCommand(drainUpdate(ref, reason, nowMs)));
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
  }
  return false;
}

/** Final word: STOPPED, unless something else already recorded this task as stopped (its reason is kept). */
export async function markStopped(ref: ManagerRecordRef, reason: string, nowMs: number): Promise<boolean> {
  try {
    await ref.db.send(
      new UpdateCommand({
        TableName: ref.tableName,
        Key: keyOf(ref),
        UpdateExpression: "SET #state = :stopped, stoppedAt = :now, stopReason = :reason, heartbeatAt = :now",
        ConditionExpression: "taskArn = :arn AND #state <> :stopped",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":stopped": "STOPPED",
          ":now": nowMs,
          ":reason": reason,
          ":arn": ref.taskArn,
        },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionalFailure(err)) return false;
    throw err;
  }
}
