/**
 * One scheduler period at a time, on any account: a lease item in the state table instead of a reserved
 * concurrency of 1 (which accounts with the default Lambda limit of 10 cannot grant, failing the deploy).
 * Every step of a period is already safe to run twice (conditional writes); the lease saves the duplicate work and
 * API calls when periods overlap (a slow period, or a schedule delivered twice).
 */
import { randomUUID } from "node:crypto";
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import {
  expiresAtFor,
  isConditionalFailure,
  SCHEDULER_LEASE_KEY,
  type StateStore,
  TTL_ATTRIBUTE,
} from "./table.js";

export interface SchedulerLease {
  owner: string;
  /** Gives the lease back, only if we still hold it; never throws for a lease already gone or taken over. */
  release(): Promise<void>;
}

/**
 * Takes the lease for `holdMs` (the invocation's remaining time: a period that crashes or times out frees it by
 * expiry). Undefined when another period holds an unexpired lease.
 */
export async function acquireSchedulerLease(
  store: StateStore,
  nowMs: number,
  holdMs: number,
): Promise<SchedulerLease | undefined> {
  const owner = randomUUID();
  const expiresAt = nowMs + holdMs;
  try {
    await store.db.send(
      new PutCommand({
        TableName: store.tableName,
        Item: {
          ...SCHEDULER_LEASE_KEY,
          owner,
          expiresAt,
          // DynamoDB removes a lease nobody released, long after it stopped mattering.
          [TTL_ATTRIBUTE]: expiresAtFor(expiresAt, 24 * 3600_000),
        },
        ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
        ExpressionAttributeValues: { ":now": nowMs },
      }),
    );
  } catch (err) {
    if (!isConditionalFailure(err)) throw err;
    // Our own write, retried by the SDK after a timeout that hid its success, is still ours.
    const current = await store.db.send(
      new GetCommand({ TableName: store.tableName, Key: SCHEDULER_LEASE_KEY, ConsistentRead: true }),
    );
    if (current.Item?.owner !== owner) return undefined;
  }
  return {
    owner,
    release: async () => {
      try {
        await store.db.send(
          new DeleteCommand({
            TableName: store.tableName,
            Key: SCHEDULER_LEASE_KEY,
            ConditionExpression: "#owner = :mine",
            ExpressionAttributeNames: { "#owner": "owner" },
            ExpressionAttributeValues: { ":mine": owner },
          }),
        );
      } catch (err) {
        if (!isConditionalFailure(err)) throw err;
      }
    },
  };
}
