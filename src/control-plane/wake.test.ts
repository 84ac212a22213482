import { describe, expect, it } from "vitest";
import { conditionalFailure, fakeDeps } from "../../test/support/state-fakes.js";
import { WAKE_SK } from "../state/table.js";
import { handlePendingJob } from "./scale-up.js";
import { wakeRunningManager } from "./wake.js";

const NOW = 1_000_000_000;
const pending = { status: "pending", projectId: 1, jobId: 2, runner: null };
const activeSlot = {
  pk: "RUNNER#default",
  sk: "SLOT",
  state: "ACTIVE",
  ownerToken: "t",
  acquiredAt: NOW - 60_000,
  taskArn: "arn:aws:ecs:eu-west-1:1:task/cluster/abc",
  checkedAt: NOW,
};

/** A state table whose slot points at a running manager (checked a moment ago, so ECS is not asked). */
const runningManagerDb = (onWake: (input: Record<string, unknown>) => unknown = () => ({})) => ({
  PutCommand: conditionalFailure,
  GetCommand: () => ({ Item: activeSlot }),
  UpdateCommand: (input: Record<string, unknown>) =>
    (input.Key as { sk: string }).sk === WAKE_SK ? onWake(input) : conditionalFailure(),
});

describe("waking a running manager for a pending job", () => {
  it("scale-up records the job for the runner configuration whose manager already runs", async () => {
    const f = fakeDeps({ db: runningManagerDb(), gitlab: undefined, now: NOW });
    expect(await handlePendingJob(f.deps, pending)).toMatchObject({ action: "already-running" });
    const wake = f.db.named("UpdateCommand").find((u) => (u.Key as { sk: string }).sk === WAKE_SK);
    expect(wake).toMatchObject({
      Key: { pk: "RUNNER#default", sk: WAKE_SK },
      ExpressionAttributeValues: { ":job": new Set(["1#2"]), ":now": NOW },
    });
  });

  it("records nothing for a manager being started, or when the wake is turned off", async () => {
    const f = fakeDeps({ db: {}, now: NOW });
    await wakeRunningManager(f.deps, { action: "started", runner: "default" }, pending);
    await wakeRunningManager(f.deps, { action: "starting", runner: "default" }, pending);
    const off = fakeDeps({
      db: {},
      config: { runners: [{ name: "default", tags: ["x"], wake: { enabled: false } }] },
    });
    await wakeRunningManager(off.deps, { action: "already-running", runner: "default" }, pending);
    expect([...f.db.sent, ...off.db.sent]).toEqual([]);
  });

  it("a failed write is logged, not thrown: the runner still polls on its own", async () => {
    const f = fakeDeps({
      db: runningManagerDb(() => {
        throw new Error("throttled");
      }),
      now: NOW,
    });
    expect(await handlePendingJob(f.deps, pending)).toMatchObject({ action: "already-running" });
    expect(f.logs).toContainEqual({
      level: "warn",
      message: "could not record the pending job for the running manager; it polls as usual",
    });
  });
});
