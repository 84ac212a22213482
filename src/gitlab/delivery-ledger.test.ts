import type { DeleteItemInput, PutItemInput, UpdateItemInput } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import {
  CLAIM_LEASE_SECONDS,
  createDeliveryLedger,
  DELIVERY_RECORD_TTL_SECONDS,
  deliveryKeyOf,
} from "./delivery-ledger.js";

type Call = ["putItem", PutItemInput] | ["updateItem", UpdateItemInput] | ["deleteItem", DeleteItemInput];

describe("delivery keys", () => {
  const body = Buffer.from('{"object_kind":"build"}');
  const none = { idempotencyKey: undefined, webhookId: undefined, eventUuid: undefined };

  it("prefers Idempotency-Key, then webhook-id, then Event-UUID with the body", () => {
    expect(
      deliveryKeyOf({ ...none, idempotencyKey: "k-1", webhookId: "w-1", eventUuid: "e-1" }, body),
    ).toEqual({
      key: "k-1",
      source: "idempotency-key",
    });
    expect(deliveryKeyOf({ ...none, webhookId: "w-1", eventUuid: "e-1" }, body)).toEqual({
      key: "w-1",
      source: "webhook-id",
    });
    const a = deliveryKeyOf({ ...none, eventUuid: "e-1" }, body);
    const b = deliveryKeyOf({ ...none, eventUuid: "e-1" }, Buffer.from('{"object_kind":"pipeline"}'));
    expect(a?.source).toBe("event-uuid");
    // One Event-UUID covers every hook of a request context: different bodies must not collide.
    expect(a?.key).not.toBe(b?.key);
    expect(deliveryKeyOf({ ...none, eventUuid: "e-1" }, body)).toEqual(a);
    expect(deliveryKeyOf(none, body)).toBeNull();
  });

  it("hashes keys that are too long or carry odd characters", () => {
    const key = deliveryKeyOf({ ...none, idempotencyKey: `x#${"a".repeat(500)}` }, Buffer.alloc(0))!.key;
    expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe("delivery ledger", () => {
  function fakeTable(failure?: Error) {
    const sent: Call[] = [];
    const record = async (call: Call) => {
      sent.push(call);
      if (failure) throw failure;
      return {};
    };
    return {
      sent,
      table: {
        putItem: (input: PutItemInput) => record(["putItem", input]),
        updateItem: (input: UpdateItemInput) => record(["updateItem", input]),
        deleteItem: (input: DeleteItemInput) => record(["deleteItem", input]),
      },
    };
  }

  it("claims with a conditional put carrying a one-day ttl and a lease", async () => {
    const { sent, table } = fakeTable();
    const ledger = createDeliveryLedger(table, "state", () => 1_800_000_000_000);
    expect(await ledger.claim("k-1")).toBe("claimed");
    const [operation, input] = sent[0] as ["putItem", PutItemInput];
    expect(operation).toBe("putItem");
    expect(input.Item).toMatchObject({
      pk: { S: "DELIVERY#k-1" },
      sk: { S: "DELIVERY" },
      state: { S: "CLAIMED" },
      ttl: { N: String(1_800_000_000 + DELIVERY_RECORD_TTL_SECONDS) },
    });
    expect(input.ConditionExpression).toContain("attribute_not_exists(pk)");
    expect(input.ExpressionAttributeValues?.[":leaseExpired"]).toEqual({
      N: String(1_800_000_000 - CLAIM_LEASE_SECONDS),
    });
  });

  it("reports a failed condition as a duplicate and rethrows other errors", async () => {
    const conditional = Object.assign(new Error("The conditional request failed"), {
      name: "ConditionalCheckFailedException",
    });
    expect(await createDeliveryLedger(fakeTable(conditional).table, "state").claim("k")).toBe("duplicate");
    const throttled = Object.assign(new Error("slow down"), {
      name: "ProvisionedThroughputExceededException",
    });
    await expect(createDeliveryLedger(fakeTable(throttled).table, "state").claim("k")).rejects.toThrow(
      "slow down",
    );
  });

  it("marks done and releases the same record", async () => {
    const { sent, table } = fakeTable();
    const ledger = createDeliveryLedger(table, "state");
    await ledger.markDone("k-2");
    await ledger.release("k-2");
    expect(sent.map(([operation]) => operation)).toEqual(["updateItem", "deleteItem"]);
    expect((sent[0]![1] as UpdateItemInput).Key).toEqual({
      pk: { S: "DELIVERY#k-2" },
      sk: { S: "DELIVERY" },
    });
    expect(sent[1]![1]).toEqual({
      TableName: "state",
      Key: { pk: { S: "DELIVERY#k-2" }, sk: { S: "DELIVERY" } },
    });
  });
});
