/**
 * The scheduler against moto: idle stop (never a busy manager), the drain/job-start race, crashed,
 * unresponsive and over-age managers, and the reconciler that catches lost webhooks within two periods.
 * moto never fires scheduled rules, so the tests drive periods themselves with a fake clock.
 */
import { RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config/index.js";
import { requestDrain, runningJobsCutoff } from "../../src/control-plane/idle-stop.js";
import { ensureManager } from "../../src/control-plane/scale-up.js";
import { runSchedulerPeriod } from "../../src/control-plane/scheduler.js";
import type { JobEventInput } from "../../src/events/job-event.js";
import { GitLabRestClient } from "../../src/gitlab/rest-client.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { stateTableJobCounter } from "../../src/state/job-counter.js";
import { recordJobEvent } from "../../src/state/job-records.js";
import { readSlot } from "../../src/state/slots.js";
import { type ManagerItem, managerSk, runnerPk, taskIdOf } from "../../src/state/table.js";
import { GitLabApiSim } from "../support/gitlab-api-sim.js";
import { createFixture, type Fixture, metricCount, type PrivateMoto, startPrivateMoto } from "./harness.js";

let moto: PrivateMoto;
beforeAll(async () => {
  moto = await startPrivateMoto();
});
afterAll(() => moto?.moto.stop());

const MIN = 60_000;
const runnerConfig = (extra: Record<string, unknown> = {}): Pick<ConfigInput, "runners"> => ({
  runners: [
    { name: "default", tags: ["fargate"], idleTimeoutSeconds: 600, minRunningSeconds: 180, ...extra },
  ],
});

interface Started {
  f: Fixture;
  taskArn: string;
  key: { pk: string; sk: string };
}

/** A manager started by scale-up and marked RUNNING by "the manager container" (as src/manager does). */
async function runningManager(
  extra: Record<string, unknown> = {},
  configExtra: Partial<ConfigInput> = {},
): Promise<Started> {
  const f = await createFixture(moto.endpoint, { ...runnerConfig(extra), ...configExtra });
  const outcome = await ensureManager(f.deps, f.config.runners[0]!);
  if (outcome.action !== "started") throw new Error(`expected a start, got ${outcome.action}`);
  const key = { pk: runnerPk("default"), sk: managerSk(taskIdOf(outcome.taskArn)) };
  await heartbeat({ f, taskArn: outcome.taskArn, key }, "RUNNING");
  return { f, taskArn: outcome.taskArn, key };
}

async function heartbeat(m: Started, state?: string) {
  await m.f.clients.db.send(
    new UpdateCommand({
      TableName: m.f.resources.stateTableName,
      Key: m.key,
      UpdateExpression: state ? "SET heartbeatAt = :now, #s = :state" : "SET heartbeatAt = :now",
      ...(state ? { ExpressionAttributeNames: { "#s": "state" } } : {}),
      ExpressionAttributeValues: { ":now": m.f.clock.now, ...(state ? { ":state": state } : {}) },
    }),
  );
}

/** The driver's writes when a job starts or ends on the manager (src/state/job-counter.ts). */
function driverJobs(m: Started) {
  return stateTableJobCounter(m.f.clients.db, m.f.resources.stateTableName, () => m.f.clock.now);
}
const jobOn = (m: Started, jobId = "41") => ({
  runnerName: "default",
  projectId: "5",
  jobId,
  managerTaskId: taskIdOf(m.taskArn),
});
const driverJobStarted = (m: Started, jobId?: string) => driverJobs(m).started(jobOn(m, jobId));
const driverJobFinished = (m: Started, jobId?: string) => driverJobs(m).finished(jobOn(m, jobId));

async function record(m: Started): Promise<ManagerItem> {
  const out = await m.f.clients.db.send(
    new GetCommand({ TableName: m.f.resources.stateTableName, Key: m.key, ConsistentRead: true }),
  );
  return out.Item as ManagerItem;
}

/** Advances the fake clock, the manager heartbeating meanwhile, and runs one scheduler period. */
async function period(m: Started, advanceMs: number, { beat = true } = {}) {
  m.f.clock.now += advanceMs;
  if (beat) await heartbeat(m);
  const result = await runSchedulerPeriod(m.f.deps);
  expect(result.errors).toEqual([]);
  return result.reviews[0]?.decisions.find((d) => d.taskArn === m.taskArn)?.decision;
}

const slotOf = (f: Fixture) =>
  readSlot({ db: f.clients.db, tableName: f.resources.stateTableName }, "default");

describe("idle stop", () => {
  it("drains an idle manager: record DRAINING, slot freed in the same step, ECS task left to exit by itself", async () => {
    const m = await runningManager();
    expect(await period(m, 5 * MIN)).toBe("busy"); // idle timeout (10 min) not reached
    expect(await period(m, 6 * MIN)).toBe("drained-idle");
    expect(await record(m)).toMatchObject({ state: "DRAINING", drainReason: "idle" });
    expect(await slotOf(m.f)).toBeUndefined();
    expect(await m.f.runningManagers("default")).toEqual([m.taskArn]); // no StopTask: gitlab-runner drains on SIGQUIT
    expect(metricCount(m.f, METRICS.managerDrained)).toBe(1);
    // The manager exits; the next period records it stopped, without calling it a crash.
    await m.f.ecs.send(new StopTaskCommand({ cluster: m.f.resources.clusterArn, task: m.taskArn }));
    expect(await period(m, MIN, { beat: false })).toBe("gone");
    expect((await record(m)).state).toBe("STOPPED");
    expect(metricCount(m.f, METRICS.managerCrashed)).toBe(0);
  });

  it("never drains a manager with a job running, by its record or by ECS", async () => {
    const m = await runningManager();
    await driverJobStarted(m);
    expect(await period(m, 30 * MIN)).toBe("busy"); // job 41 runs, even long after the last start
    await driverJobFinished(m);
    // The record says idle, but ECS still runs a job task started by this manager (startedBy = task id).
    await m.f.ecs.send(
      new RunTaskCommand({
        cluster: m.f.resources.clusterArn,
        taskDefinition: m.f.resources.managerTaskDefinitions.default!,
        startedBy: taskIdOf(m.taskArn),
        launchType: "FARGATE",
        networkConfiguration: {
          awsvpcConfiguration: { subnets: m.f.resources.subnetIds, securityGroups: ["sg-1"] },
        },
      }),
    );
    expect(await period(m, MIN)).toBe("busy");
    expect((await record(m)).state).toBe("RUNNING");
  });

  it("a retried start and a repeated end leave no job behind: the idle manager drains", async () => {
    const m = await runningManager();
    // gitlab-runner retries preparation (start recorded twice) and cleanup may run twice.
    await driverJobStarted(m, "41");
    await driverJobStarted(m, "42");
    await driverJobStarted(m, "41");
    await driverJobFinished(m, "41");
    expect(await period(m, 11 * MIN)).toBe("busy"); // job 42 still runs
    expect([...((await record(m)).runningJobIds ?? [])]).toEqual(["42"]);
    await driverJobFinished(m, "42");
    await driverJobFinished(m, "41");
    await driverJobFinished(m, "42");
    expect((await record(m)).runningJobIds).toBeUndefined();
    expect(await period(m, MIN)).toBe("drained-idle");
  });

  it("a job whose end was never recorded keeps the manager only until maxJobSeconds + margin", async () => {
    const m = await runningManager({ jobs: { maxJobSeconds: 3600 }, maxLifetimeSeconds: 24 * 3600 });
    await driverJobStarted(m, "41"); // its cleanup never comes (the manager's daemon was killed mid-job)
    expect(await period(m, 60 * MIN)).toBe("busy");
    expect(await period(m, 9 * MIN)).toBe("busy"); // 69 min: it could still be cleaning up
    expect(await period(m, 2 * MIN)).toBe("drained-idle"); // 71 min: past 60 + 10
  });

  it("keeps a manager until minRunningSeconds even when idle longer than idleTimeoutSeconds", async () => {
    const m = await runningManager({ idleTimeoutSeconds: 60, minRunningSeconds: 600 });
    expect(await period(m, 5 * MIN)).toBe("kept");
    expect(await period(m, 6 * MIN)).toBe("drained-idle");
  });

  it("a job started within the idle timeout keeps the manager", async () => {
    const m = await runningManager();
    m.f.clock.now += 9 * MIN;
    await driverJobStarted(m);
    await driverJobFinished(m);
    expect(await period(m, 5 * MIN)).toBe("busy");
    expect(await period(m, 6 * MIN)).toBe("drained-idle");
  });
});

describe("race: job assignment against the drain decision", () => {
  it("the conditional write lets exactly one win; a job that lands on a draining manager runs to its end", async () => {
    const outcomes = { drained: 0, refused: 0 };
    for (let trial = 0; trial < 12; trial++) {
      const m = await runningManager();
      m.f.clock.now += 11 * MIN;
      await heartbeat(m);
      const manager = await record(m);
      const slot = await slotOf(m.f);
      const cutoff = m.f.clock.now - 600_000;
      // The scheduler has decided from `manager` that it is idle; between that read and its conditional
      // write, the driver records a job start (or right after it). DynamoDB serialises writes to one item,
      // so these two orders are the only outcomes of a real race. (Issuing both at the same instant against
      // moto is not meaningful: moto rolls a cancelled transaction back by restoring a table snapshot, which
      // can erase a write that landed meanwhile, something DynamoDB never does.)
      const idle = {
        idleCutoff: cutoff,
        runningJobsCutoff: runningJobsCutoff(m.f.config.runners[0]!, m.f.clock.now),
      };
      const drain = () => requestDrain(m.f.deps, "default", manager, slot, "idle", m.f.clock.now, idle);
      const drained =
        trial % 2 === 0
          ? await driverJobStarted(m).then(drain)
          : await drain().then(async (won) => {
              await driverJobStarted(m);
              return won;
            });
      const after = await record(m);
      expect([...(after.runningJobIds ?? [])]).toEqual(["41"]); // the job start is never lost
      if (drained) {
        outcomes.drained++;
        // Drain won: the job arrived on a DRAINING manager. It must be allowed to finish: later periods keep
        // the manager (no StopTask) until maxJobSeconds + margin, and the slot is free for a new manager.
        expect(after.state).toBe("DRAINING");
        expect(await slotOf(m.f)).toBeUndefined();
        expect(await period(m, 30 * MIN)).toBe("kept");
        expect(await m.f.runningManagers("default")).toContain(m.taskArn);
      } else {
        outcomes.refused++;
        expect(after.state).toBe("RUNNING");
        expect((await slotOf(m.f))?.taskArn).toBe(m.taskArn);
        expect(await period(m, MIN)).toBe("busy");
      }
    }
    expect(outcomes.drained + outcomes.refused).toBe(12);
    // Driver first: the drain is refused; drain first: it wins and the job still runs. Never both, never neither.
    expect(outcomes).toEqual({ drained: 6, refused: 6 });
  });
});

describe("safety nets", () => {
  it("a crashed manager: slot freed, record STOPPED, reported", async () => {
    const m = await runningManager();
    await m.f.ecs.send(
      new StopTaskCommand({ cluster: m.f.resources.clusterArn, task: m.taskArn, reason: "OutOfMemoryError" }),
    );
    expect(await period(m, MIN, { beat: false })).toBe("crashed");
    expect(await record(m)).toMatchObject({ state: "STOPPED" });
    expect((await record(m)).stopReason).toMatch(/crashed/);
    expect(await slotOf(m.f)).toBeUndefined();
    expect(metricCount(m.f, METRICS.managerCrashed)).toBe(1);
    expect(m.f.logs.some((l) => l.level === "error" && /without draining/.test(l.message))).toBe(true);
  });

  it("a manager task that no record knows is stopped, but not while a start is in progress", async () => {
    const m = await runningManager();
    const stray = await m.f.ecs.send(
      new RunTaskCommand({
        cluster: m.f.resources.clusterArn,
        taskDefinition: m.f.resources.managerTaskDefinitions.default!,
        startedBy: "sgr-manager/default",
        launchType: "FARGATE",
        networkConfiguration: {
          awsvpcConfiguration: { subnets: m.f.resources.subnetIds, securityGroups: ["sg-1"] },
        },
      }),
    );
    const strayArn = stray.tasks![0]!.taskArn!;
    m.f.clock.now += MIN;
    await heartbeat(m);
    const result = await runSchedulerPeriod(m.f.deps);
    expect(result.reviews[0]!.decisions).toEqual([
      { taskArn: m.taskArn, decision: "kept" },
      { taskArn: strayArn, decision: "stopped-orphan" },
    ]);
    expect(await m.f.runningManagers("default")).toEqual([m.taskArn]);
    // A scale-up holding the slot in STARTING is between RunTask and recording its task: hands off.
    const starting = await m.f.ecs.send(
      new RunTaskCommand({
        cluster: m.f.resources.clusterArn,
        taskDefinition: m.f.resources.managerTaskDefinitions.default!,
        startedBy: "sgr-manager/default",
        launchType: "FARGATE",
        networkConfiguration: {
          awsvpcConfiguration: { subnets: m.f.resources.subnetIds, securityGroups: ["sg-1"] },
        },
      }),
    );
    await m.f.clients.db.send(
      new PutCommand({
        TableName: m.f.resources.stateTableName,
        Item: {
          pk: runnerPk("default"),
          sk: "SLOT",
          state: "STARTING",
          ownerToken: "busy",
          acquiredAt: m.f.clock.now,
        },
      }),
    );
    const during = await runSchedulerPeriod(m.f.deps);
    expect(during.reviews[0]!.decisions.map((d) => d.decision)).not.toContain("stopped-orphan");
    expect(await m.f.runningManagers("default")).toContain(starting.tasks![0]!.taskArn);
  });

  it("a manager that recorded its own exit (STOPPED) while its slot stayed ACTIVE gets its slot freed", async () => {
    const m = await runningManager();
    await heartbeat(m, "STOPPED"); // what src/manager writes when gitlab-runner exits on its own
    await m.f.ecs.send(new StopTaskCommand({ cluster: m.f.resources.clusterArn, task: m.taskArn }));
    expect((await slotOf(m.f))?.taskArn).toBe(m.taskArn);
    await period(m, MIN, { beat: false });
    expect(await slotOf(m.f)).toBeUndefined();
  });

  it("a manager whose heartbeat stopped is stopped with StopTask", async () => {
    const m = await runningManager();
    expect(await period(m, 5 * MIN, { beat: false })).toBe("stopped-unresponsive");
    expect(await m.f.runningManagers("default")).toEqual([]);
    expect(await slotOf(m.f)).toBeUndefined();
    expect(metricCount(m.f, METRICS.managerForceStopped)).toBe(1);
  });

  it("a manager draining longer than maxJobSeconds + margin is stopped with StopTask", async () => {
    const m = await runningManager({ jobs: { maxJobSeconds: 3600 } });
    await driverJobStarted(m);
    m.f.clock.now += 11 * MIN;
    await requestDrain(
      m.f.deps,
      "default",
      await record(m),
      await slotOf(m.f),
      "max-lifetime",
      m.f.clock.now,
    );
    expect(await period(m, 60 * MIN)).toBe("kept");
    expect(await period(m, 11 * MIN)).toBe("stopped-drain-overdue");
    expect(await m.f.runningManagers("default")).toEqual([]);
  });

  it("an over-age manager is drained (not killed) even while busy, and replaced when a job is pending", async () => {
    const m = await runningManager({ maxLifetimeSeconds: 3600 });
    await driverJobStarted(m);
    expect(await period(m, 30 * MIN)).toBe("busy");
    // A job goes pending (job-status saw it) while the manager ages out.
    const job: JobEventInput = { status: "pending", projectId: 5, jobId: 77, runner: null };
    await recordJobEvent(
      {
        db: m.f.clients.db,
        tableName: m.f.resources.stateTableName,
        logger: m.f.deps.logger,
        metrics: m.f.deps.metrics,
      },
      job,
      m.f.clock.now,
    );
    const result = await (async () => {
      m.f.clock.now += 31 * MIN;
      await heartbeat(m);
      return runSchedulerPeriod(m.f.deps);
    })();
    expect(result.reviews[0]!.decisions).toEqual([{ taskArn: m.taskArn, decision: "drained-over-age" }]);
    expect(await m.f.runningManagers("default")).toContain(m.taskArn); // still finishing its job
    expect(metricCount(m.f, METRICS.managerOverAge)).toBe(1);
    const replacement = (await slotOf(m.f))?.taskArn;
    expect(replacement).toBeDefined();
    expect(replacement).not.toBe(m.taskArn);
    expect(result.reconcile?.ensured).toEqual([{ projectId: 5, jobId: 77, outcome: "started" }]);
  });
});

describe("reconciler", () => {
  const jobDeps = (f: Fixture) => ({
    db: f.clients.db,
    tableName: f.resources.stateTableName,
    logger: f.deps.logger,
    metrics: f.deps.metrics,
  });

  it("a pending job whose scale-up event was lost gets a manager within two schedule periods", async () => {
    const f = await createFixture(moto.endpoint, runnerConfig());
    const t0 = f.clock.now;
    // job-status saw the job pending; the scale-up delivery was lost.
    await recordJobEvent(
      jobDeps(f),
      { status: "pending", projectId: 3, jobId: 300, runner: null, receivedAt: new Date(t0).toISOString() },
      t0,
    );
    f.clock.now = t0 + 20_000; // period 1: the job's own scale-up may still be on its way
    const first = await runSchedulerPeriod(f.deps);
    expect(first.reconcile?.ensured).toEqual([]);
    expect(await f.runningManagers("default")).toEqual([]);
    f.clock.now = t0 + 80_000; // period 2: pending for more than a period without running
    const second = await runSchedulerPeriod(f.deps);
    expect(second.reconcile?.ensured).toEqual([{ projectId: 3, jobId: 300, outcome: "started" }]);
    expect(await f.runningManagers("default")).toHaveLength(1);
    expect(metricCount(f, METRICS.jobReconciled)).toBe(1);
    expect(f.clock.now - t0).toBeLessThanOrEqual(2 * 60_000);
  });

  it("forgets jobs that went running (or that GitLab no longer has pending)", async () => {
    const f = await createFixture(moto.endpoint, runnerConfig());
    await recordJobEvent(
      jobDeps(f),
      { status: "pending", projectId: 3, jobId: 301, runner: null },
      f.clock.now,
    );
    await recordJobEvent(
      jobDeps(f),
      { status: "running", projectId: 3, jobId: 301, runner: { id: 1 } },
      f.clock.now,
    );
    await recordJobEvent(
      jobDeps(f),
      { status: "pending", projectId: 3, jobId: 301, runner: null },
      f.clock.now,
    ); // late, out of order
    f.clock.now += 2 * MIN;
    const result = await runSchedulerPeriod(f.deps);
    expect(result.reconcile).toMatchObject({ ensured: [] });
    expect(await f.runningManagers("default")).toEqual([]);
  });

  describe("with the GitLab API", () => {
    const sim = new GitLabApiSim("glpat-reconcile");
    beforeAll(() => sim.start());
    afterAll(() => sim.stop());

    it("lists pending jobs of reconcileProjectIds and starts a manager in the first period (no webhook at all)", async () => {
      const f = await createFixture(moto.endpoint, {
        ...runnerConfig(),
        gitlab: { url: "https://gitlab.example.com", reconcileProjectIds: [77] },
      });
      f.gitlab = new GitLabRestClient({ baseUrl: sim.url, token: "glpat-reconcile", baseDelayMs: 1 });
      sim.addJob({ id: 900, projectId: 77, status: "pending", tagList: ["fargate"] });
      sim.addJob({ id: 901, projectId: 77, status: "pending", tagList: ["gpu"] }); // no configuration fits
      const result = await runSchedulerPeriod(f.deps);
      expect(result.reconcile?.listedFromApi).toBe(2);
      expect(result.reconcile?.ensured).toEqual([
        { projectId: 77, jobId: 900, outcome: "started" },
        { projectId: 77, jobId: 901, outcome: "no-matching-runner" },
      ]);
      expect(await f.runningManagers("default")).toHaveLength(1);
    });

    it("re-confirms a seen-pending job through the API and drops it when GitLab says it is gone", async () => {
      const f = await createFixture(moto.endpoint, runnerConfig());
      f.gitlab = new GitLabRestClient({ baseUrl: sim.url, token: "glpat-reconcile", baseDelayMs: 1 });
      sim.addJob({ id: 902, projectId: 78, status: "canceled" });
      await recordJobEvent(
        jobDeps(f),
        { status: "pending", projectId: 78, jobId: 902, runner: null },
        f.clock.now,
      );
      f.clock.now += 2 * MIN;
      const result = await runSchedulerPeriod(f.deps);
      expect(result.reconcile).toMatchObject({ checked: 1, cleared: 1, ensured: [] });
      expect(await f.runningManagers("default")).toEqual([]);
    });
  });
});
