/**
 * The pending-job set a running manager wakes on (moto): adding is idempotent, forgetting removes only what was
 * read, and the item carries a TTL so a set nobody reads goes away.
 */
import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import {
  forgetPendingJobs,
  PENDING_WAKE_TTL_MS,
  readPendingJobs,
  recordPendingJob,
} from "../../src/state/pending-wake.js";
import { runnerPk, WAKE_SK } from "../../src/state/table.js";
import { createStateTable } from "../support/state-table.js";

const tableName = `sgr-pending-wake-${randomBytes(4).toString("hex")}`;
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const store = { db, tableName };

beforeAll(() => createStateTable(tableName), 60_000);

describe("pending jobs a running manager wakes on", () => {
  it("records each job once, however often scale-up handles its event, with a TTL", async () => {
    const now = Date.now();
    await recordPendingJob(store, "alpha", { projectId: 7, jobId: 100 }, now);
    await recordPendingJob(store, "alpha", { projectId: 7, jobId: 100 }, now + 5);
    await recordPendingJob(store, "alpha", { projectId: 7, jobId: 101 }, now + 10);
    expect((await readPendingJobs(store, "alpha")).sort()).toEqual(["7#100", "7#101"]);
    expect(await readPendingJobs(store, "beta")).toEqual([]);
    const item = (
      await db.send(new GetCommand({ TableName: tableName, Key: { pk: runnerPk("alpha"), sk: WAKE_SK } }))
    ).Item;
    expect(item?.ttl).toBe(Math.floor((now + 10 + PENDING_WAKE_TTL_MS) / 1000));
  });

  it("forgets only the jobs the manager read; one recorded meanwhile stays", async () => {
    await recordPendingJob(store, "gamma", { projectId: 1, jobId: 1 }, Date.now());
    const seen = await readPendingJobs(store, "gamma");
    await recordPendingJob(store, "gamma", { projectId: 1, jobId: 2 }, Date.now());
    await forgetPendingJobs(store, "gamma", seen);
    expect(await readPendingJobs(store, "gamma")).toEqual(["1#2"]);
    await forgetPendingJobs(store, "gamma", ["1#2"]);
    expect(await readPendingJobs(store, "gamma")).toEqual([]);
    await forgetPendingJobs(store, "gamma", []);
  });
});
