/**
 * The scheduler's lease against moto's DynamoDB: one period at a time, freed by release or by expiry, never
 * released by a period that no longer holds it, and kept through an SDK retry that hid the first write's success.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireSchedulerLease } from "../../src/state/lease.js";
import { SCHEDULER_LEASE_KEY } from "../../src/state/table.js";
import { createFixture, type Fixture, type PrivateMoto, startPrivateMoto } from "../control-plane/harness.js";

let moto: PrivateMoto;
beforeAll(async () => {
  moto = await startPrivateMoto();
});
afterAll(() => moto?.moto.stop());

const single = { runners: [{ name: "default", tags: ["fargate"], runUntagged: true }] };
const storeOf = (f: Fixture) => ({ db: f.clients.db, tableName: f.resources.stateTableName });
const T0 = 1_800_000_000_000;

describe("scheduler lease", () => {
  it("lets one of many concurrent periods run, and the next one after it releases", async () => {
    const f = await createFixture(moto.endpoint, single);
    const leases = await Promise.all(
      Array.from({ length: 20 }, () => acquireSchedulerLease(storeOf(f), T0, 50_000)),
    );
    const held = leases.filter((lease) => lease !== undefined);
    expect(held).toHaveLength(1);
    expect(await acquireSchedulerLease(storeOf(f), T0 + 10_000, 50_000)).toBeUndefined();

    await held[0]!.release();
    const next = await acquireSchedulerLease(storeOf(f), T0 + 20_000, 50_000);
    expect(next).toBeDefined();
    const item = await f.clients.db.send(
      new GetCommand({ TableName: f.resources.stateTableName, Key: SCHEDULER_LEASE_KEY }),
    );
    expect(item.Item).toMatchObject({ owner: next!.owner, expiresAt: T0 + 70_000 });
    expect(item.Item?.ttl).toBeGreaterThan((T0 + 70_000) / 1000);
  });

  it("is taken over once expired (a period that crashed), and the crashed period's release does not free it", async () => {
    const f = await createFixture(moto.endpoint, single);
    const crashed = await acquireSchedulerLease(storeOf(f), T0, 50_000);
    expect(crashed).toBeDefined();
    expect(await acquireSchedulerLease(storeOf(f), T0 + 49_999, 50_000)).toBeUndefined();
    const next = await acquireSchedulerLease(storeOf(f), T0 + 50_001, 50_000);
    expect(next).toBeDefined();

    await crashed!.release();
    expect(await acquireSchedulerLease(storeOf(f), T0 + 60_000, 50_000)).toBeUndefined();
    await next!.release();
    expect(await acquireSchedulerLease(storeOf(f), T0 + 60_000, 50_000)).toBeDefined();
  });

  it("keeps a lease whose write succeeded but whose answer was lost (the SDK's retry finds its own item)", async () => {
    const f = await createFixture(moto.endpoint, single);
    f.faults.inject({ operation: "PutItem", kind: "timeout-after-processing", times: 1 });
    const lease = await acquireSchedulerLease(storeOf(f), T0, 50_000);
    expect(f.faults.injected).toEqual(["PutItem:timeout-after-processing"]);
    expect(lease).toBeDefined();
    expect(await acquireSchedulerLease(storeOf(f), T0 + 1000, 50_000)).toBeUndefined();
  });
});
