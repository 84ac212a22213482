/**
 * The manager slot: one item per runner configuration whose conditional write decides, among any number
 * of concurrent scale-ups, the one that starts a manager. Every later change (activate, release, free)
 * is conditional on who holds it, so a slow or crashed invocation can never undo someone else's work.
 */
import { randomUUID } from "node:crypto";
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import {
  DAY_MS,
  expiresAtFor,
  isConditionalFailure,
  type ManagerItem,
  managerSk,
  runnerPk,
  SLOT_SK,
  type SlotItem,
  type StateStore,
  taskIdOf,
} from "./table.js";

export type SlotStore = StateStore;

export type AcquireResult =
  | { acquired: true; slot: SlotItem }
  | { acquired: false; existing: SlotItem | undefined };

export async function readSlot(store: SlotStore, runnerName: string): Promise<SlotItem | undefined> {
  const out = await store.db.send(
    new GetCommand({
      TableName: store.tableName,
      Key: { pk: runnerPk(runnerName), sk: SLOT_SK },
      ConsistentRead: true,
    }),
  );
  return out.Item as SlotItem | undefined;
}

/**
 * Takes the slot if nobody holds it, or takes over `stale` (a STARTING slot whose holder died) when given.
 * Exactly one of any number of concurrent callers gets `acquired: true`.
 */
export async function acquireSlot(
  store: SlotStore,
  runnerName: string,
  nowMs: number,
  stale?: SlotItem,
): Promise<AcquireResult> {
  const slot: SlotItem = {
    pk: runnerPk(runnerName),
    sk: SLOT_SK,
    state: "STARTING",
    ownerToken: randomUUID(),
    acquiredAt: nowMs,
  };
  try {
    await store.db.send(
      new PutCommand({
        TableName: store.tableName,
        Item: slot,
        ...(stale
          ? {
              ConditionExpression: "ownerToken = :stale AND #state = :starting",
              ExpressionAttributeNames: { "#state": "state" },
              ExpressionAttributeValues: { ":stale": stale.ownerToken, ":starting": "STARTING" },
            }
          : { ConditionExpression: "attribute_not_exists(pk)" }),
      }),
    );
    return { acquired: true, slot };
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
    const existing = await readSlot(store, runnerName);
    // Our own write, retried by the SDK after a timeout that hid its success.
    if (existing?.ownerToken === slot.ownerToken) return { acquired: true, slot: existing };
    return { acquired: false, existing };
  }
}

/** Gives the slot back (RunTask failed), only if we still hold it. */
export async function releaseSlot(
  store: SlotStore,
  runnerName: string,
  ownerToken: string,
): Promise<boolean> {
  try {
    await store.db.send(
      new DeleteCommand({
        TableName: store.tableName,
        Key: { pk: runnerPk(runnerName), sk: SLOT_SK },
        ConditionExpression: "ownerToken = :mine",
        ExpressionAttributeValues: { ":mine": ownerToken },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionalFailure(err)) return false;
    throw err;
  }
}

/**
 * Points the slot at the started task and creates the manager record, in one transaction conditional on
 * still holding the slot. Returns false when the slot was taken over meanwhile (then the caller stops the task).
 */
export async function activateSlot(
  store: SlotStore,
  runnerName: string,
  ownerToken: string,
  task: { taskArn: string; capacity: string },
  nowMs: number,
): Promise<boolean> {
  const taskId = taskIdOf(task.taskArn);
  const manager: ManagerItem = {
    pk: runnerPk(runnerName),
    sk: managerSk(taskId),
    runnerName,
    taskArn: task.taskArn,
    taskId,
    state: "STARTING",
    capacity: task.capacity,
    startedAt: nowMs,
    // Kept long after the manager stops, for the record; DynamoDB TTL removes it eventually.
    ttl: expiresAtFor(nowMs, 30 * DAY_MS),
  };
  try {
    await store.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: store.tableName,
              Key: { pk: runnerPk(runnerName), sk: SLOT_SK },
              UpdateExpression:
                "SET #state = :active, taskArn = :arn, taskId = :id, activatedAt = :now, checkedAt = :now",
              ConditionExpression: "ownerToken = :mine AND #state = :starting",
              ExpressionAttributeNames: { "#state": "state" },
              ExpressionAttributeValues: {
                ":active": "ACTIVE",
                ":starting": "STARTING",
                ":arn": task.taskArn,
                ":id": taskId,
                ":now": nowMs,
                ":mine": ownerToken,
              },
            },
          },
          {
            Put: {
              TableName: store.tableName,
              Item: manager,
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
        ],
      }),
    );
    return true;
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
    // A retried transaction whose first attempt succeeded fails its own condition: look before concluding.
    const current = await readSlot(store, runnerName);
    return current?.ownerToken === ownerToken && current.taskArn === task.taskArn;
  }
}

/**
 * Claims the right to ask ECS whether the slot's manager still runs: at most one caller per interval,
 * so a burst of events costs one DescribeTasks, not a thousand.
 */
export async function claimLivenessCheck(
  store: SlotStore,
  slot: SlotItem,
  nowMs: number,
  intervalMs: number,
): Promise<boolean> {
  try {
    await store.db.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: { pk: slot.pk, sk: SLOT_SK },
        UpdateExpression: "SET checkedAt = :now",
        ConditionExpression: "ownerToken = :owner AND (attribute_not_exists(checkedAt) OR checkedAt <= :due)",
        ExpressionAttributeValues: { ":now": nowMs, ":owner": slot.ownerToken, ":due": nowMs - intervalMs },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionalFailure(err)) return false;
    throw err;
  }
}

/**
 * The slot's manager is gone (crashed, or stopped without draining): frees the slot, only if it still points
 * at that task, and records the manager as STOPPED, in one transaction.
 */
export async function freeSlotOfGoneManager(
  store: SlotStore,
  runnerName: string,
  taskArn: string,
  reason: string,
  nowMs: number,
): Promise<boolean> {
  try {
    await store.db.send(
      new TransactWriteCommand({
        TransactItems: [
          deleteSlotOfTask(store.tableName, runnerName, taskArn),
          markStoppedUpdate(store.tableName, runnerName, taskArn, reason, nowMs),
        ],
      }),
    );
    return true;
  } catch (err) {
    if (isConditionalFailure(err)) return false;
    throw err;
  }
}

/** Transaction item: the runner's slot is deleted, only while it points at `taskArn`. */
export function deleteSlotOfTask(tableName: string, runnerName: string, taskArn: string) {
  return {
    Delete: {
      TableName: tableName,
      Key: { pk: runnerPk(runnerName), sk: SLOT_SK },
      ConditionExpression: "taskArn = :arn",
      ExpressionAttributeValues: { ":arn": taskArn },
    },
  };
}

/** Transaction item: manager record → STOPPED (created if it was never written, e.g. a crash mid-start). */
export function markStoppedUpdate(
  tableName: string,
  runnerName: string,
  taskArn: string,
  reason: string,
  nowMs: number,
) {
  const taskId = taskIdOf(taskArn);
  return {
    Update: {
      TableName: tableName,
      Key: { pk: runnerPk(runnerName), sk: managerSk(taskId) },
      UpdateExpression:
        "SET #state = :stopped, stoppedAt = :now, stopReason = :reason, taskArn = :arn, taskId = :id, runnerName = :runner",
      ExpressionAttributeNames: { "#state": "state" },
      ExpressionAttributeValues: {
        ":stopped": "STOPPED",
        ":now": nowMs,
        ":reason": reason,
        ":arn": taskArn,
        ":id": taskId,
        ":runner": runnerName,
      },
    },
  };
}
