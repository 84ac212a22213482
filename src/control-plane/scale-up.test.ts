import { describe, expect, it } from "vitest";
import { conditionalFailure, fakeDeps } from "../../test/support/state-fakes.js";
import { GitLabApiError } from "../gitlab/rest-client.js";
import { METRICS } from "../observability/metric-names.js";
import type { SlotItem } from "../state/table.js";
import { reconcile } from "./reconcile.js";
import { ensureManager, handlePendingJob, STALE_STARTING_MS } from "./scale-up.js";

const NOW = 1_000_000_000;
const TASK = "arn:aws:ecs:eu-west-1:1:task/cluster/abc";
const pending = { status: "pending", projectId: 1, jobId: 2, runner: null };

/** A state table whose slot is free: the PutItem wins, the activation transaction succeeds. */
const freeSlotDb = (over: Record<string, (input: Record<string, unknown>) => unknown> = {}) => ({
  PutCommand: () => ({}),
  TransactWriteCommand: () => ({}),
  DeleteCommand: () => ({}),
  GetCommand: () => ({}),
  ...over,
});
const runTaskOk = { RunTaskCommand: () => ({ tasks: [{ taskArn: TASK }], failures: [] }) };

describe("ensureManager", () => {
  it("takes the slot, runs the task with the slot's owner token, and activates the slot", async () => {
    const f = fakeDeps({ now: NOW, db: freeSlotDb(), ecs: runTaskOk });
    expect(await ensureManager(f.deps, f.deps.config.runners[0]!)).toEqual({
      action: "started",
      runner: "default",
      taskArn: TASK,
      capacity: "FARGATE",
    });
    const put = f.db.named("PutCommand")[0] as { Item: SlotItem; ConditionExpression: string };
    expect(put.ConditionExpression).toBe("attribute_not_exists(pk)");
    expect(f.ecs.named("RunTaskCommand")[0]).toMatchObject({
      clientToken: `${put.Item.ownerToken}-FARGATE`,
      taskDefinition: "mgr",
    });
    expect(f.metrics.map((m) => m.name)).toEqual([METRICS.managerStarted]);
  });

  it("does nothing while another invocation is starting the manager", async () => {
    const starting: SlotItem = {
      pk: "RUNNER#default",
      sk: "SLOT",
      state: "STARTING",
      ownerToken: "other",
      acquiredAt: NOW - 5000,
    };
    const f = fakeDeps({
      now: NOW,
      db: freeSlotDb({ PutCommand: conditionalFailure, GetCommand: () => ({ Item: starting }) }),
    });
    expect((await ensureManager(f.deps, f.deps.config.runners[0]!)).action).toBe("starting");
    expect(f.ecs.sent).toEqual([]);
  });

  it("takes over a stale STARTING slot conditionally on its old owner", async () => {
    const stale: SlotItem = {
      pk: "RUNNER#default",
      sk: "SLOT",
      state: "STARTING",
      ownerToken: "dead",
      acquiredAt: NOW - STALE_STARTING_MS - 1,
    };
    let puts = 0;
    const f = fakeDeps({
      now: NOW,
      db: freeSlotDb({
        PutCommand: () => (puts++ === 0 ? conditionalFailure() : {}),
        GetCommand: () => ({ Item: stale }),
      }),
      ecs: runTaskOk,
    });
    expect((await ensureManager(f.deps, f.deps.config.runners[0]!)).action).toBe("started");
    expect(f.db.named("PutCommand")[1]).toMatchObject({
      ExpressionAttributeValues: { ":stale": "dead", ":starting": "STARTING" },
    });
  });

  it("releases the slot and throws when RunTask fails", async () => {
    const f = fakeDeps({
      now: NOW,
      db: freeSlotDb(),
      ecs: {
        RunTaskCommand: () => {
          throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
        },
      },
    });
    await expect(ensureManager(f.deps, f.deps.config.runners[0]!)).rejects.toThrow("Rate exceeded");
    const owner = (f.db.named("PutCommand")[0] as { Item: SlotItem }).Item.ownerToken;
    expect(f.db.named("DeleteCommand")[0]).toMatchObject({
      ConditionExpression: "ownerToken = :mine",
      ExpressionAttributeValues: { ":mine": owner },
    });
    expect(f.metrics.map((m) => m.name)).toEqual([METRICS.managerStartFailed]);
  });

  it("stops its task when the slot was taken over while RunTask ran", async () => {
    const f = fakeDeps({
      now: NOW,
      db: freeSlotDb({
        TransactWriteCommand: conditionalFailure,
        GetCommand: () => ({ Item: { state: "STARTING", ownerToken: "someone-else" } }),
      }),
      ecs: { ...runTaskOk, StopTaskCommand: () => ({}) },
    });
    expect((await ensureManager(f.deps, f.deps.config.runners[0]!)).action).toBe("starting");
    expect(f.ecs.named("StopTaskCommand")[0]).toMatchObject({ task: TASK });
  });
});

describe("handlePendingJob", () => {
  it("ignores non-pending events and jobs a runner already took", async () => {
    const f = fakeDeps({ db: {} });
    expect(await handlePendingJob(f.deps, { ...pending, status: "running" })).toMatchObject({
      action: "ignored",
    });
    expect(await handlePendingJob(f.deps, { ...pending, runner: { id: 5, tags: [] } })).toMatchObject({
      action: "ignored",
    });
    expect(f.db.sent).toEqual([]);
  });

  it("fails open when the token cannot be read", async () => {
    const f = fakeDeps({
      db: freeSlotDb(),
      ecs: runTaskOk,
      gitlab: async () => {
        throw new Error("AccessDeniedException");
      },
    });
    expect(await handlePendingJob(f.deps, pending)).toMatchObject({ action: "started", tagsFrom: "unknown" });
    expect(f.logs.some((l) => l.level === "warn")).toBe(true);
  });

  it("uses the API's tags to pick the configuration", async () => {
    const api = {
      getJob: async () => ({
        id: 2,
        projectId: 1,
        status: "pending",
        tagList: ["big"],
        runnerId: null,
        createdAt: null,
      }),
      listPendingJobs: async () => [],
    };
    const f = fakeDeps({
      config: {
        runners: [
          { name: "small", tags: ["small"], runUntagged: true },
          { name: "big", tags: ["big"] },
        ],
      },
      db: freeSlotDb(),
      ecs: runTaskOk,
      gitlab: api,
    });
    expect(await handlePendingJob(f.deps, pending)).toMatchObject({
      action: "started",
      runner: "big",
      tagsFrom: "api",
    });
    expect(f.ecs.named("RunTaskCommand")[0]).toMatchObject({
      taskDefinition: "mgr-big",
      startedBy: "sgr-manager/big",
    });
  });

  it("fails open when the API answers an error", async () => {
    const api = {
      getJob: async () => {
        throw new GitLabApiError("GitLab API answered 502", 502, true);
      },
      listPendingJobs: async () => [],
    };
    const f = fakeDeps({ db: freeSlotDb(), ecs: runTaskOk, gitlab: api });
    expect(await handlePendingJob(f.deps, pending)).toMatchObject({ action: "started", tagsFrom: "unknown" });
  });
});

describe("reconcile", () => {
  const marker = (jobId: number, firstSeenAt: number) => ({
    pk: "PENDING",
    sk: `1#${jobId}`,
    projectId: 1,
    jobId,
    firstSeenAt,
    ttl: 0,
  });

  it("waits one period for a job's own scale-up, then ensures a manager once for all waiting jobs", async () => {
    const f = fakeDeps({
      now: NOW,
      db: freeSlotDb({
        QueryCommand: () => ({
          Items: [marker(1, NOW - 10_000), marker(2, NOW - 70_000), marker(3, NOW - 90_000)],
        }),
        GetCommand: (input) => ({
          Item: (input.Key as { sk: string }).sk === "JOB" ? { statusRank: 1 } : undefined,
        }),
      }),
      ecs: runTaskOk,
    });
    const result = await reconcile(f.deps);
    expect(result.checked).toBe(2);
    expect(result.ensured).toEqual([
      { projectId: 1, jobId: 2, outcome: "started" },
      { projectId: 1, jobId: 3, outcome: "started" },
    ]);
    expect(f.ecs.named("RunTaskCommand")).toHaveLength(1);
    expect(f.metrics.map((m) => m.name)).toContain(METRICS.jobReconciled);
  });

  it("clears markers of jobs that are running, or waiting for more than a day", async () => {
    const f = fakeDeps({
      now: NOW,
      db: {
        QueryCommand: () => ({ Items: [marker(4, NOW - 70_000), marker(5, NOW - 25 * 3600_000)] }),
        GetCommand: (input) => ({
          Item: (input.Key as { pk: string }).pk === "JOB#1#4" ? { statusRank: 2 } : { statusRank: 1 },
        }),
        DeleteCommand: () => ({}),
      },
    });
    expect(await reconcile(f.deps)).toMatchObject({ cleared: 2, ensured: [] });
    expect(f.db.named("DeleteCommand").map((d) => (d.Key as { sk: string }).sk)).toEqual(["1#4", "1#5"]);
  });

  it("reports an API listing failure without stopping the pass", async () => {
    const api = {
      getJob: async () => {
        throw new Error("unused");
      },
      listPendingJobs: async () => {
        throw new GitLabApiError("GitLab API answered 500", 500, true);
      },
    };
    const f = fakeDeps({
      config: {
        runners: [{ name: "default", tags: ["x"] }],
        gitlab: { url: "https://gitlab.example.com", reconcileProjectIds: [9] },
      },
      db: { QueryCommand: () => ({ Items: [] }) },
      gitlab: api,
    });
    expect((await reconcile(f.deps)).errors).toEqual(["project 9: GitLab API answered 500"]);
  });
});
