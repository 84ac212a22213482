/** The manager's writes to its record and the slot, against moto's DynamoDB, next to the control plane's writes. */
import { randomBytes } from "node:crypto";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import {
  heartbeat,
  type ManagerRecordRef,
  markRunning,
  markSelfDraining,
  markStopped,
  readManagerState,
} from "../../src/state/manager-record.js";
import { acquireSlot, activateSlot } from "../../src/state/slots.js";
import { managerSk, runnerPk, taskIdOf } from "../../src/state/table.js";
import {
  createStateTable,
  documentClient,
  fakeTaskArn,
  readRecord,
  readSlotItem,
} from "../manager/support.js";

const table = `sgr-manager-record-${randomBytes(4).toString("hex")}`;
const db = documentClient();
let n = 0;

async function startedManager(): Promise<ManagerRecordRef> {
  const runnerName = `rec-${++n}-${randomBytes(3).toString("hex")}`;
  const taskArn = fakeTaskArn();
  const store = { db, tableName: table };
  const acquired = await acquireSlot(store, runnerName, Date.now());
  if (!acquired.acquired) throw new Error("slot taken");
  await activateSlot(
    store,
    runnerName,
    acquired.slot.ownerToken,
    { taskArn, capacity: "FARGATE_SPOT" },
    Date.now(),
  );
  return { db, tableName: table, runnerName, taskArn };
}

beforeAll(() => createStateTable(table));

describe("manager record", () => {
  it("goes STARTING → RUNNING → DRAINING → STOPPED, keeping what scale-up wrote", async () => {
    const ref = await startedManager();
    expect(await readManagerState(ref)).toBe("STARTING");
    expect(await markRunning(ref, 1000)).toBe("RUNNING");
    expect(await heartbeat(ref, 2000)).toBe("RUNNING");
    expect(await markSelfDraining(ref, "received SIGTERM", 3000)).toBe(true);
    expect(await heartbeat(ref, 4000)).toBe("DRAINING");
    expect(await markStopped(ref, "gitlab-runner exited with code 0", 5000)).toBe(true);
    expect(await readRecord(db, table, ref.runnerName, ref.taskArn)).toMatchObject({
      state: "STOPPED",
      capacity: "FARGATE_SPOT",
      runnerName: ref.runnerName,
      heartbeatAt: 5000,
      drainRequestedAt: 3000,
      stoppedAt: 5000,
    });
    // Nothing moves a STOPPED record back, and a second stop keeps the first reason.
    expect(await markRunning(ref, 6000)).toBe("STOPPED");
    expect(await heartbeat(ref, 6000)).toBe("STOPPED");
    expect(await markStopped(ref, "again", 6000)).toBe(false);
    expect((await readRecord(db, table, ref.runnerName, ref.taskArn))?.stopReason).toBe(
      "gitlab-runner exited with code 0",
    );
  });

  it("never creates a record scale-up has not written", async () => {
    const ref: ManagerRecordRef = {
      db,
      tableName: table,
      runnerName: `rec-none-${++n}`,
      taskArn: fakeTaskArn(),
    };
    expect(await markRunning(ref, 1)).toBe("MISSING");
    expect(await heartbeat(ref, 1)).toBe("MISSING");
    expect(await markSelfDraining(ref, "received SIGTERM", 1)).toBe(false);
    expect(await markStopped(ref, "x", 1)).toBe(false);
    expect(await readRecord(db, table, ref.runnerName, ref.taskArn)).toBeUndefined();
  });

  it("only touches a record that names this task", async () => {
    const ref = await startedManager();
    // Same task id under another ARN (another cluster): not ours.
    const impostor = { ...ref, taskArn: ref.taskArn.replace("sgr-test", "other-cluster") };
    expect(taskIdOf(impostor.taskArn)).toBe(taskIdOf(ref.taskArn));
    expect(await markRunning(impostor, 1)).toBe("MISSING");
    expect(await markStopped(impostor, "x", 1)).toBe(false);
    expect(await readManagerState(ref)).toBe("STARTING");
  });

  it("a self-drain frees the slot only while it points at this task", async () => {
    const ref = await startedManager();
    await markRunning(ref, 1);
    // A newer manager already holds the slot (this one was drained by the scheduler, then SIGTERMed).
    const newer = fakeTaskArn();
    await db.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: runnerPk(ref.runnerName),
          sk: "SLOT",
          state: "ACTIVE",
          ownerToken: "t",
          acquiredAt: 1,
          taskArn: newer,
        },
      }),
    );
    expect(await markSelfDraining(ref, "received SIGTERM", 2)).toBe(false);
    expect((await readSlotItem(db, table, ref.runnerName))?.taskArn).toBe(newer);
    expect(await readManagerState(ref)).toBe("DRAINING");

    const own = await startedManager();
    await markRunning(own, 1);
    expect(await markSelfDraining(own, "received SIGTERM", 2)).toBe(true);
    expect(await readSlotItem(db, table, own.runnerName)).toBeUndefined();
    expect(managerSk(taskIdOf(own.taskArn))).toMatch(/^MANAGER#/);
  });
});
