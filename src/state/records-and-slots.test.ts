import { describe, expect, it } from "vitest";
import { conditionalFailure, scripted } from "../../test/support/state-fakes.js";
import { METRICS } from "../observability/metric-names.js";
import { recordJobEvent } from "./job-records.js";
import { acquireSlot, activateSlot, releaseSlot } from "./slots.js";
import type { StateDb } from "./table.js";

const NOW = 1_000_000_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

describe("manager slot writes", () => {
  it("acquire: a conditional put; a lost race returns the holder's slot", async () => {
    const holder = { state: "ACTIVE", ownerToken: "other", taskArn: "t" };
    const db = scripted<StateDb>({ PutCommand: conditionalFailure, GetCommand: () => ({ Item: holder }) });
    expect(await acquireSlot({ db: db.client, tableName: "s" }, "r", NOW)).toEqual({
      acquired: false,
      existing: holder,
    });
    expect(db.named("GetCommand")[0]).toMatchObject({
      ConsistentRead: true,
      Key: { pk: "RUNNER#r", sk: "SLOT" },
    });
  });

  it("acquire: a put retried after a lost answer finds its own token and counts as acquired", async () => {
    let written: Record<string, unknown> | undefined;
    const db = scripted<StateDb>({
      PutCommand: (input) => {
        written = input.Item as Record<string, unknown>;
        return conditionalFailure();
      },
      GetCommand: () => ({ Item: written }),
    });
    const result = await acquireSlot({ db: db.client, tableName: "s" }, "r", NOW);
    expect(result.acquired).toBe(true);
  });

  it("release only deletes a slot we hold; activate reads back before giving up", async () => {
    const db = scripted<StateDb>({
      DeleteCommand: conditionalFailure,
      TransactWriteCommand: conditionalFailure,
      GetCommand: () => ({ Item: { ownerToken: "mine", taskArn: "arn:task/c/x", state: "ACTIVE" } }),
    });
    const store = { db: db.client, tableName: "s" };
    expect(await releaseSlot(store, "r", "mine")).toBe(false);
    expect(
      await activateSlot(store, "r", "mine", { taskArn: "arn:task/c/x", capacity: "FARGATE" }, NOW),
    ).toBe(true);
    expect(
      await activateSlot(store, "r", "mine", { taskArn: "arn:task/c/other", capacity: "FARGATE" }, NOW),
    ).toBe(false);
  });

  it("passes other errors through (the handler throws, EventBridge retries)", async () => {
    const db = scripted<StateDb>({
      PutCommand: () => {
        throw Object.assign(new Error("Throughput exceeds the current capacity"), {
          name: "ProvisionedThroughputExceededException",
        });
      },
    });
    await expect(acquireSlot({ db: db.client, tableName: "s" }, "r", NOW)).rejects.toThrow(/Throughput/);
  });
});

describe("job records", () => {
  const deps = (db: StateDb, metrics: { name: string; value: number }[] = []) => ({
    db,
    tableName: "s",
    logger: silent,
    metrics: {
      count: (name: string, value = 1) => metrics.push({ name, value }),
      seconds: (name: string, value: number) => metrics.push({ name, value }),
    },
  });

  it("writes the status only if its rank is higher, and keeps the first sighting", async () => {
    const db = scripted<StateDb>({ UpdateCommand: () => ({}), PutCommand: () => ({}) });
    await recordJobEvent(
      deps(db.client),
      { status: "pending", projectId: 1, jobId: 2, receivedAt: NOW },
      NOW,
    );
    const update = db.named("UpdateCommand")[0] as Record<string, unknown>;
    expect(update.ConditionExpression).toBe("attribute_not_exists(pk) OR statusRank < :rank");
    expect(update.UpdateExpression).toMatch(/#seen = if_not_exists\(#seen, :seen\)/);
    expect(update.ExpressionAttributeNames).toMatchObject({ "#seen": "pendingSeenAt", "#ttl": "ttl" });
    expect(db.named("PutCommand")[0]).toMatchObject({ Item: { pk: "PENDING", sk: "1#2", firstSeenAt: NOW } });
  });

  it("a retried pending event re-adds a missing marker only while the job is still pending", async () => {
    const stillPending = scripted<StateDb>({
      UpdateCommand: conditionalFailure,
      GetCommand: () => ({ Item: { statusRank: 1 } }),
      PutCommand: () => ({}),
    });
    expect(
      await recordJobEvent(deps(stillPending.client), { status: "pending", projectId: 1, jobId: 2 }, NOW),
    ).toBe("stale-or-duplicate");
    expect(stillPending.named("PutCommand")).toHaveLength(1);
    const running = scripted<StateDb>({
      UpdateCommand: conditionalFailure,
      GetCommand: () => ({ Item: { statusRank: 2 } }),
    });
    await recordJobEvent(deps(running.client), { status: "pending", projectId: 1, jobId: 2 }, NOW);
    expect(running.named("PutCommand")).toHaveLength(0);
  });

  it("running: marker removed, queued and pending→running durations emitted", async () => {
    const metrics: { name: string; value: number }[] = [];
    const db = scripted<StateDb>({
      UpdateCommand: () => ({ Attributes: { statusRank: 1, pendingSeenAt: NOW - 7000 } }),
      DeleteCommand: () => ({}),
    });
    await recordJobEvent(
      deps(db.client, metrics),
      { status: "running", projectId: 1, jobId: 2, queuedDurationSeconds: 6.5 },
      NOW,
    );
    expect(db.named("DeleteCommand")[0]).toMatchObject({ Key: { pk: "PENDING", sk: "1#2" } });
    expect(metrics).toEqual([
      { name: METRICS.jobQueuedSeconds, value: 6.5 },
      { name: METRICS.jobPendingToRunningSeconds, value: 7 },
    ]);
  });
});
