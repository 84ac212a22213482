/**
 * Fault injection at every AWS call site of the control plane (throttling, 5xx, timeouts), below the SDK's
 * retry layer: a transient fault is retried by the SDK (standard mode) and the work completes; a fault that
 * outlasts the retries makes the handler throw (→ EventBridge/Lambda retry, then DLQ), and running the event
 * again completes it, never with a second manager.
 */
import { StopTaskCommand } from "@aws-sdk/client-ecs";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handlePendingJob } from "../../src/control-plane/scale-up.js";
import { runSchedulerPeriod } from "../../src/control-plane/scheduler.js";
import type { JobEventInput } from "../../src/events/job-event.js";
import { ssmApiTokenSource } from "../../src/gitlab/rest-client-token.js";
import { recordJobEvent } from "../../src/state/job-records.js";
import { readSlot } from "../../src/state/slots.js";
import { managerSk, PENDING_PK, pendingSk, runnerPk, taskIdOf } from "../../src/state/table.js";
import type { FaultKind } from "./fault-injection.js";
import { createFixture, type Fixture, type PrivateMoto, startPrivateMoto } from "./harness.js";

let moto: PrivateMoto;
beforeAll(async () => {
  moto = await startPrivateMoto();
});
afterAll(() => moto?.moto.stop());

const single = { runners: [{ name: "default", tags: ["fargate"], runUntagged: true }] };
const pending = (jobId: number): JobEventInput => ({ status: "pending", projectId: 42, jobId, runner: null });
const transientKinds: FaultKind[] = ["throttle", "server-error", "timeout"];
/** The SDK makes 5 attempts (AWS_CLIENT_SETTINGS): five faults in a row outlast them. */
const EXHAUSTING = 5;

async function expectOneActiveManager(f: Fixture) {
  expect(await f.runningManagers("default")).toHaveLength(1);
  const slot = await readSlot({ db: f.clients.db, tableName: f.resources.stateTableName }, "default");
  expect(slot?.state).toBe("ACTIVE");
  expect(await f.runningManagers("default")).toContain(slot?.taskArn);
}

describe("scale-up: start path (PutItem slot, RunTask, TransactWriteItems activate)", () => {
  for (const operation of ["PutItem", "RunTask", "TransactWriteItems"]) {
    for (const kind of transientKinds) {
      it(`${operation} ${kind} twice → retried by the SDK, one manager`, async () => {
        const f = await createFixture(moto.endpoint, single);
        f.faults.inject({ operation, kind, times: 2 });
        expect((await handlePendingJob(f.deps, pending(1))).action).toBe("started");
        expect(f.faults.injected).toEqual([`${operation}:${kind}`, `${operation}:${kind}`]);
        expect(f.faults.calls.get(operation)).toBe(3);
        await expectOneActiveManager(f);
      });
    }
    it(`${operation} failing past the retries → the handler throws; the redelivered event starts exactly one manager`, async () => {
      const f = await createFixture(moto.endpoint, single);
      f.faults.inject({ operation, kind: "server-error", times: EXHAUSTING });
      await expect(handlePendingJob(f.deps, pending(1))).rejects.toThrow();
      expect(f.faults.pending()).toEqual([]);
      expect((await handlePendingJob(f.deps, pending(1))).action).toBe("started");
      await expectOneActiveManager(f);
    });
  }

  it("a timeout that hid a successful slot write or activation is recognised as our own write", async () => {
    for (const operation of ["PutItem", "TransactWriteItems"]) {
      const f = await createFixture(moto.endpoint, single);
      f.faults.inject({ operation, kind: "timeout-after-processing", times: 1 });
      expect((await handlePendingJob(f.deps, pending(1))).action).toBe("started");
      await expectOneActiveManager(f);
    }
  });

  it("a RunTask retried after a lost answer carries the same clientToken (ECS starts one task for both)", async () => {
    const f = await createFixture(moto.endpoint, single);
    f.faults.record.add("RunTask");
    f.faults.inject({ operation: "RunTask", kind: "timeout", times: 1 });
    await handlePendingJob(f.deps, pending(1));
    const tokens = f.faults.recorded.map((r) => JSON.parse(r.body).clientToken);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(1);
  });

  it("a RunTask whose answer was lost after moto started the task: the orphan sweep stops the extra task", async () => {
    // moto ignores clientToken, so the SDK's retry starts a second task; real ECS would not.
    const f = await createFixture(moto.endpoint, single);
    f.faults.inject({ operation: "RunTask", kind: "timeout-after-processing", times: 1 });
    const started = (await handlePendingJob(f.deps, pending(1))) as { taskArn: string };
    expect(await f.runningManagers("default")).toHaveLength(2);
    const result = await runSchedulerPeriod(f.deps);
    expect(result.reviews[0]!.decisions.filter((d) => d.decision === "stopped-orphan")).toHaveLength(1);
    expect(await f.runningManagers("default")).toEqual([started.taskArn]);
    await expectOneActiveManager(f);
  });

  it("DeleteItem (slot release) failing after a failed RunTask: the slot goes stale, then the job still gets its manager", async () => {
    const f = await createFixture(moto.endpoint, single);
    f.faults.inject(
      { operation: "RunTask", kind: "server-error", times: EXHAUSTING },
      { operation: "DeleteItem", kind: "throttle", times: EXHAUSTING },
    );
    await expect(handlePendingJob(f.deps, pending(1))).rejects.toThrow();
    expect((await handlePendingJob(f.deps, pending(1))).action).toBe("starting");
    f.clock.now += 3 * 60_000;
    expect((await handlePendingJob(f.deps, pending(1))).action).toBe("started");
    await expectOneActiveManager(f);
  });
});

describe("scale-up: liveness path (GetItem, UpdateItem claim, DescribeTasks, TransactWriteItems free)", () => {
  for (const operation of ["GetItem", "UpdateItem", "DescribeTasks"]) {
    it(`${operation} faults are retried; a dead manager is replaced once`, async () => {
      const f = await createFixture(moto.endpoint, single);
      const first = (await handlePendingJob(f.deps, pending(1))) as { taskArn: string };
      await f.ecs.send(new StopTaskCommand({ cluster: f.resources.clusterArn, task: first.taskArn }));
      f.clock.now += 61_000;
      f.faults.clear();
      f.faults.inject(...transientKinds.map((kind) => ({ operation, kind, times: 1 })));
      expect((await handlePendingJob(f.deps, pending(2))).action).toBe("started");
      expect(f.faults.injected).toHaveLength(3);
      await expectOneActiveManager(f);
    });
  }
});

describe("SSM (GitLab API token)", () => {
  it("GetParameter faults are retried", async () => {
    const f = await createFixture(moto.endpoint, single);
    const name = `/sgr-test/${Date.now()}/api-token`;
    await f.clients.ssm.send(new PutParameterCommand({ Name: name, Value: "glpat-x", Type: "SecureString" }));
    f.faults.inject(...transientKinds.map((kind) => ({ operation: "GetParameter", kind, times: 1 })));
    expect(await ssmApiTokenSource(f.clients.ssm, name).get()).toBe("glpat-x");
    expect(f.faults.injected).toHaveLength(3);
  });
});

describe("job-status (UpdateItem record, PutItem/DeleteItem pending marker, GetItem)", () => {
  const deps = (f: Fixture) => ({
    db: f.clients.db,
    tableName: f.resources.stateTableName,
    logger: f.deps.logger,
    metrics: f.deps.metrics,
  });
  const marker = async (f: Fixture, jobId: number) =>
    (
      await f.clients.db.send(
        new GetCommand({
          TableName: f.resources.stateTableName,
          Key: { pk: PENDING_PK, sk: pendingSk(42, jobId) },
        }),
      )
    ).Item;

  for (const operation of ["UpdateItem", "PutItem"]) {
    it(`${operation} transient faults are retried; exhausted → throws, and the retry completes the record and marker`, async () => {
      const f = await createFixture(moto.endpoint, single);
      f.faults.inject(...transientKinds.map((kind) => ({ operation, kind, times: 1 })));
      expect(await recordJobEvent(deps(f), pending(7), f.clock.now)).toBe("recorded");
      expect(await marker(f, 7)).toBeDefined();
      f.faults.inject({ operation, kind: "server-error", times: EXHAUSTING });
      await expect(recordJobEvent(deps(f), pending(8), f.clock.now)).rejects.toThrow();
      await recordJobEvent(deps(f), pending(8), f.clock.now);
      expect(await marker(f, 8)).toBeDefined();
    });
  }

  it("DeleteItem exhausted on the running event → throws; the retry removes the marker", async () => {
    const f = await createFixture(moto.endpoint, single);
    await recordJobEvent(deps(f), pending(9), f.clock.now);
    f.faults.inject({ operation: "DeleteItem", kind: "throttle", times: EXHAUSTING });
    const running = { ...pending(9), status: "running" };
    await expect(recordJobEvent(deps(f), running, f.clock.now)).rejects.toThrow();
    expect(await recordJobEvent(deps(f), running, f.clock.now)).toBe("stale-or-duplicate");
    expect(await marker(f, 9)).toBeUndefined();
  });
});

describe("scheduler (Query, DescribeTasks, GetItem, ListTasks, TransactWriteItems drain, StopTask)", () => {
  async function idleManager() {
    const f = await createFixture(moto.endpoint, {
      runners: [{ name: "default", tags: ["fargate"], idleTimeoutSeconds: 600, minRunningSeconds: 60 }],
    });
    const started = (await handlePendingJob(f.deps, pending(1))) as { taskArn: string };
    f.clock.now += 11 * 60_000;
    await f.clients.db.send(
      new UpdateCommand({
        TableName: f.resources.stateTableName,
        Key: { pk: runnerPk("default"), sk: managerSk(taskIdOf(started.taskArn)) },
        UpdateExpression: "SET #s = :running, heartbeatAt = :now",
        ExpressionAttributeNames: { "#s": "state" },
        ExpressionAttributeValues: { ":running": "RUNNING", ":now": f.clock.now },
      }),
    );
    f.faults.clear();
    return { f, taskArn: started.taskArn };
  }

  for (const operation of ["Query", "DescribeTasks", "GetItem", "ListTasks", "TransactWriteItems"]) {
    it(`${operation} transient faults are retried and the idle manager is drained once`, async () => {
      const { f } = await idleManager();
      f.faults.inject(...transientKinds.map((kind) => ({ operation, kind, times: 1 })));
      const result = await runSchedulerPeriod(f.deps);
      expect(result.errors).toEqual([]);
      expect(result.reviews[0]!.decisions.map((d) => d.decision)).toEqual(["drained-idle"]);
      expect(f.faults.injected).toHaveLength(3);
    });
  }

  it("a fault outlasting the retries is reported (the handler throws) and the next period completes the drain", async () => {
    const { f } = await idleManager();
    f.faults.inject({ operation: "TransactWriteItems", kind: "server-error", times: EXHAUSTING });
    const failed = await runSchedulerPeriod(f.deps);
    expect(failed.errors).toHaveLength(1);
    f.clock.now += 60_000;
    const next = await runSchedulerPeriod(f.deps);
    expect(next.errors).toEqual([]);
    expect(next.reviews[0]!.decisions.map((d) => d.decision)).toEqual(["drained-idle"]);
  });

  it("StopTask faults are retried when a manager lost its heartbeat", async () => {
    const { f, taskArn } = await idleManager();
    f.clock.now += 10 * 60_000; // heartbeat now 10 minutes old
    f.faults.inject(...transientKinds.map((kind) => ({ operation: "StopTask", kind, times: 1 })));
    const result = await runSchedulerPeriod(f.deps);
    expect(result.reviews[0]!.decisions).toEqual([{ taskArn, decision: "stopped-unresponsive" }]);
    expect(await f.runningManagers("default")).toHaveLength(0);
  });
});
