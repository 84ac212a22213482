import { describe, expect, it } from "vitest";
import { conditionalFailure, fakeDeps } from "../../test/support/state-fakes.js";
import { METRICS } from "../observability/metric-names.js";
import type { ManagerItem, SlotItem } from "../state/table.js";
import { reviewManagers, sweepOrphanManagers } from "./idle-stop.js";

const NOW = 1_000_000_000;
const MIN = 60_000;
const arn = "arn:aws:ecs:eu-west-1:1:task/cluster/mgr1";
const manager = (over: Partial<ManagerItem> = {}): ManagerItem => ({
  pk: "RUNNER#default",
  sk: "MANAGER#mgr1",
  runnerName: "default",
  taskArn: arn,
  taskId: "mgr1",
  state: "RUNNING",
  capacity: "FARGATE",
  startedAt: NOW - 30 * MIN,
  heartbeatAt: NOW - 20_000,
  ...over,
});
const slot: SlotItem = {
  pk: "RUNNER#default",
  sk: "SLOT",
  state: "ACTIVE",
  ownerToken: "o",
  acquiredAt: 0,
  taskArn: arn,
};

function review(
  m: ManagerItem,
  opts: {
    ecsStatus?: string;
    jobTasks?: string[];
    drain?: "ok" | "refused";
    maxLifetimeSeconds?: number;
  } = {},
) {
  const fake = fakeDeps({
    now: NOW,
    config: {
      runners: [
        {
          name: "default",
          tags: ["x"],
          idleTimeoutSeconds: 600,
          minRunningSeconds: 180,
          maxLifetimeSeconds: opts.maxLifetimeSeconds ?? 7200,
        },
      ],
    },
    db: {
      QueryCommand: () => ({ Items: [m] }),
      GetCommand: () => ({ Item: slot }),
      TransactWriteCommand: opts.drain === "refused" ? conditionalFailure : () => ({}),
      UpdateCommand: () => ({}),
    },
    ecs: {
      DescribeTasksCommand: () => ({
        tasks:
          opts.ecsStatus === "missing" ? [] : [{ taskArn: arn, lastStatus: opts.ecsStatus ?? "RUNNING" }],
      }),
      ListTasksCommand: () => ({ taskArns: opts.jobTasks ?? [] }),
      StopTaskCommand: () => ({}),
    },
  });
  return { ...fake, run: () => reviewManagers(fake.deps, fake.deps.config.runners[0]!) };
}

describe("idle stop decisions", () => {
  it("drains an idle manager with a transaction that re-checks idleness and frees the slot", async () => {
    const r = review(manager());
    expect((await r.run()).decisions).toEqual([{ taskArn: arn, decision: "drained-idle" }]);
    const tx = r.db.named("TransactWriteCommand")[0] as {
      TransactItems: Record<string, Record<string, unknown>>[];
    };
    const update = tx.TransactItems[0]!.Update!;
    expect(update.ConditionExpression).toMatch(/lastJobStartedAt <= :cutoff/);
    expect(update.ConditionExpression).toMatch(
      /attribute_not_exists\(runningJobIds\) OR lastJobStartedAt <= :jobsCutoff/,
    );
    expect(update.ExpressionAttributeValues).toMatchObject({
      ":cutoff": NOW - 600_000,
      // The default maxJobSeconds (4 h) and the drain margin (10 min).
      ":jobsCutoff": NOW - (4 * 3600 + 600) * 1000,
    });
    expect(tx.TransactItems[1]!.Delete).toMatchObject({ ConditionExpression: "taskArn = :arn" });
    expect(r.ecs.named("StopTaskCommand")).toEqual([]);
    expect(r.metrics.map((m) => m.name)).toContain(METRICS.managerDrained);
  });

  it("keeps a manager with a job running (record), a recent job start, or a job task in ECS", async () => {
    const running = manager({ runningJobIds: new Set(["41"]), lastJobStartedAt: NOW - 3 * 3600_000 });
    expect((await review(running).run()).decisions[0]!.decision).toBe("busy");
    expect((await review(manager({ lastJobStartedAt: NOW - 5 * MIN })).run()).decisions[0]!.decision).toBe(
      "busy",
    );
    const withTask = review(manager(), { jobTasks: ["job-task"] });
    expect((await withTask.run()).decisions[0]!.decision).toBe("busy");
    expect(withTask.ecs.named("ListTasksCommand")[0]).toMatchObject({
      startedBy: "mgr1",
      desiredStatus: "RUNNING",
    });
  });

  it("stops trusting a job id whose cleanup never came once no job can still be running", async () => {
    // A job started 4 h 11 min ago (past maxJobSeconds + margin) and its cleanup was lost with its manager's
    // daemon: the id stays in the set, and ECS runs no job task of this manager.
    const lost = review(
      manager({
        startedAt: NOW - 5 * 3600_000,
        runningJobIds: new Set(["41"]),
        lastJobStartedAt: NOW - 251 * MIN,
      }),
      // A lifetime long enough that idleness alone decides.
      { jobTasks: [], maxLifetimeSeconds: 24 * 3600 },
    );
    expect((await lost.run()).decisions[0]!.decision).toBe("drained-idle");
  });

  it("keeps a manager younger than minRunningSeconds", async () => {
    expect(
      (await review(manager({ startedAt: NOW - 2 * MIN, heartbeatAt: NOW })).run()).decisions[0]!.decision,
    ).toBe("kept");
  });

  it("reports a refused drain (a job started between the decision and the write)", async () => {
    expect((await review(manager(), { drain: "refused" }).run()).decisions[0]!.decision).toBe(
      "drain-refused",
    );
  });

  it("crashed vs drained-and-exited", async () => {
    const crashed = review(manager(), { ecsStatus: "STOPPED" });
    expect((await crashed.run()).decisions[0]!.decision).toBe("crashed");
    expect(crashed.metrics.map((m) => m.name)).toContain(METRICS.managerCrashed);
    const missing = review(manager(), { ecsStatus: "missing" });
    expect((await missing.run()).decisions[0]!.decision).toBe("crashed");
    const exited = review(manager({ state: "DRAINING", drainRequestedAt: NOW - MIN }), {
      ecsStatus: "STOPPED",
    });
    expect((await exited.run()).decisions[0]!.decision).toBe("gone");
    expect(exited.metrics.map((m) => m.name)).not.toContain(METRICS.managerCrashed);
  });

  it("StopTask for a lost heartbeat, a never-started manager, and an overdue drain; drain for over-age", async () => {
    const silent = review(manager({ heartbeatAt: NOW - 4 * MIN }));
    expect((await silent.run()).decisions[0]!.decision).toBe("stopped-unresponsive");
    expect(silent.ecs.named("StopTaskCommand")).toHaveLength(1);
    const neverUp = review(manager({ state: "STARTING", heartbeatAt: undefined, startedAt: NOW - 11 * MIN }));
    expect((await neverUp.run()).decisions[0]!.decision).toBe("stopped-unresponsive");
    const pulling = review(manager({ state: "STARTING", heartbeatAt: undefined, startedAt: NOW - 5 * MIN }));
    expect((await pulling.run()).decisions[0]!.decision).toBe("busy");
    const overdue = review(
      manager({ state: "DRAINING", drainRequestedAt: NOW - (4 * 3600 + 11 * 60) * 1000 }),
    );
    expect((await overdue.run()).decisions[0]!.decision).toBe("stopped-drain-overdue");
    const old = review(
      manager({
        startedAt: NOW - 2.5 * 3600_000,
        runningJobIds: new Set(["1", "2", "3"]),
        lastJobStartedAt: NOW - MIN,
      }),
    );
    expect((await old.run()).decisions[0]!.decision).toBe("drained-over-age");
    expect(old.ecs.named("StopTaskCommand")).toEqual([]);
  });
});

describe("orphan sweep", () => {
  const sweep = (slotItem: SlotItem | undefined, records: ManagerItem[]) => {
    const fake = fakeDeps({
      now: NOW,
      db: { GetCommand: () => ({ Item: slotItem }), QueryCommand: () => ({ Items: records }) },
      ecs: { ListTasksCommand: () => ({ taskArns: [arn, "stray"] }), StopTaskCommand: () => ({}) },
    });
    return { ...fake, run: () => sweepOrphanManagers(fake.deps, fake.deps.config.runners[0]!) };
  };

  it("stops manager tasks no live record knows", async () => {
    const s = sweep(slot, [manager()]);
    expect((await s.run()).decisions).toEqual([{ taskArn: "stray", decision: "stopped-orphan" }]);
    expect(s.ecs.named("StopTaskCommand")).toEqual([expect.objectContaining({ task: "stray" })]);
  });

  it("does nothing while a start is in progress", async () => {
    const s = sweep({ ...slot, state: "STARTING", acquiredAt: NOW - 10_000 }, [manager()]);
    expect((await s.run()).decisions).toEqual([]);
    expect(s.ecs.named("StopTaskCommand")).toEqual([]);
  });
});
