/**
 * How `setup` confirms that a test delivery reached the event bus: the webhook function writes a delivery
 * record (`DELIVERY#…`, src/gitlab/delivery-ledger.ts) when it accepts a delivery and marks it `DONE` only
 * after PutEvents succeeded. A `DONE` record claimed after the test was sent therefore proves GitLab → URL →
 * secret check → bus, end to end, without reading the bus itself.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { StateDb } from "../state/table.js";
import { awsError } from "./exit-codes.js";

export const DELIVERY_PK_PREFIX = "DELIVERY#";

/** Whether a delivery was published since `sinceSeconds` (epoch seconds). */
export async function deliveryPublishedSince(
  db: StateDb,
  tableName: string,
  sinceSeconds: number,
): Promise<boolean> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  try {
    do {
      const page = await db.send(
        new ScanCommand({
          TableName: tableName,
          FilterExpression: "begins_with(pk, :prefix) AND claimedAt >= :since AND #state = :done",
          ExpressionAttributeNames: { "#state": "state" },
          ExpressionAttributeValues: {
            ":prefix": DELIVERY_PK_PREFIX,
            ":since": sinceSeconds,
            ":done": "DONE",
          },
          ExclusiveStartKey,
        }),
      );
      if ((page.Items ?? []).length > 0) return true;
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  } catch (err) {
    throw awsError(`reading the state table ${tableName}`, err);
  }
  return false;
}

/** Polls until a delivery shows up or `timeoutMs` passes. */
export async function waitForDelivery(
  check: () => Promise<boolean>,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
  intervalMs = 2_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
