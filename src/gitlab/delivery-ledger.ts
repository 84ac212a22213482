/**
 * Deduplication of webhook deliveries in the state table.
 *
 * A delivery is claimed (conditional PutItem, state CLAIMED) before its events are put, and marked
 * DONE after. A resend (same `Idempotency-Key`) finds the record and is answered 200 without new
 * events. If publishing fails outright the claim is released (DeleteItem) so GitLab's resend is not
 * swallowed; if the Lambda dies between claim and publish, the claim is a lease: after
 * CLAIM_LEASE_SECONDS (longer than the function timeout) a resend may take it over.
 * Callers fail open: if DynamoDB cannot be reached (claim throws) the delivery is processed anyway,
 * because a duplicate event is harmless downstream (scale-up is idempotent) and a lost one is not.
 */
import type { DeleteItemInput, PutItemInput, UpdateItemInput } from "@aws-sdk/client-dynamodb";

// process.getBuiltinModule, not an ESM import: the ESM facade of a builtin evaluates every lazy export
// (node:http's pulls in undici, ~50 ms of cold start in the webhook bundle).
const { createHash } = process.getBuiltinModule("node:crypto");

/** Records live a day (DynamoDB TTL on `ttl`): GitLab's manual resend is what they guard against. */
export const DELIVERY_RECORD_TTL_SECONDS = 24 * 3600;
/** Longer than the webhook function's timeout, so a live claim is never taken over. */
export const CLAIM_LEASE_SECONDS = 60;

/** The DynamoDB calls the ledger makes (SDK types, wire shape). A failed condition throws an error named ConditionalCheckFailedException. */
export interface DeliveryTable {
  putItem(input: PutItemInput): Promise<unknown>;
  updateItem(input: UpdateItemInput): Promise<unknown>;
  deleteItem(input: DeleteItemInput): Promise<unknown>;
}

export interface DeliveryHeaders {
  idempotencyKey: string | undefined;
  webhookId: string | undefined;
  eventUuid: string | undefined;
}

export interface DeliveryKey {
  /** Value stored in the table. */
  key: string;
  /** Header it came from, for logs. */
  source: "idempotency-key" | "webhook-id" | "event-uuid";
}

const SAFE_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function safe(value: string): string {
  return SAFE_KEY.test(value) ? value : `sha256:${sha256Hex(value)}`;
}

/**
 * The dedupe key of a delivery: `Idempotency-Key` (kept across resends), else `webhook-id` (equal to
 * it on signed deliveries), else `X-Gitlab-Event-UUID`. The last one is shared by every hook fired
 * from one request context, so different events can carry the same value: it is combined with a
 * hash of the body, which still makes an identical resend a duplicate.
 */
export function deliveryKeyOf(headers: DeliveryHeaders, body: Buffer): DeliveryKey | null {
  if (headers.idempotencyKey) return { key: safe(headers.idempotencyKey), source: "idempotency-key" };
  if (headers.webhookId) return { key: safe(headers.webhookId), source: "webhook-id" };
  if (headers.eventUuid) {
    return {
      key: `event-uuid:${sha256Hex(`${headers.eventUuid}\n${sha256Hex(body)}`)}`,
      source: "event-uuid",
    };
  }
  return null;
}

/** A claim either succeeds or finds the delivery already recorded; any other error is thrown. */
export type ClaimOutcome = "claimed" | "duplicate";

export interface DeliveryLedger {
  claim(key: string): Promise<ClaimOutcome>;
  markDone(key: string): Promise<void>;
  release(key: string): Promise<void>;
}

export function deliveryRecordKey(key: string): { pk: { S: string }; sk: { S: string } } {
  return { pk: { S: `DELIVERY#${key}` }, sk: { S: "DELIVERY" } };
}

export function createDeliveryLedger(
  table: DeliveryTable,
  tableName: string,
  now: () => number = Date.now,
): DeliveryLedger {
  return {
    async claim(key) {
      const nowSeconds = Math.floor(now() / 1000);
      try {
        await table.putItem({
          TableName: tableName,
          Item: {
            ...deliveryRecordKey(key),
            state: { S: "CLAIMED" },
            claimedAt: { N: String(nowSeconds) },
            ttl: { N: String(nowSeconds + DELIVERY_RECORD_TTL_SECONDS) },
          },
          ConditionExpression:
            "attribute_not_exists(pk) OR (#state = :claimed AND claimedAt < :leaseExpired)",
          ExpressionAttributeNames: { "#state": "state" },
          ExpressionAttributeValues: {
            ":claimed": { S: "CLAIMED" },
            ":leaseExpired": { N: String(nowSeconds - CLAIM_LEASE_SECONDS) },
          },
        });
        return "claimed";
      } catch (error) {
        if ((error as Error).name === "ConditionalCheckFailedException") return "duplicate";
        throw error;
      }
    },
    async markDone(key) {
      await table.updateItem({
        TableName: tableName,
        Key: deliveryRecordKey(key),
        UpdateExpression: "SET #state = :done",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":done": { S: "DONE" } },
      });
    },
    async release(key) {
      await table.deleteItem({ TableName: tableName, Key: deliveryRecordKey(key) });
    },
  };
}
