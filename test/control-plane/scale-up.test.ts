/**
 * Scale-up against moto over HTTP: exactly one manager however many events, RunTask shape (no token in
 * overrides), Spot fallback, slot release on failure, stale and dead slots, REST confirmation.
 */
import { DescribeTasksCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureManager, handlePendingJob } from "../../src/control-plane/scale-up.js";
import type { JobEventInput } from "../../src/events/job-event.js";
import { GitLabRestClient } from "../../src/gitlab/rest-client.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { readSlot } from "../../src/state/slots.js";
import { runnerPk, SLOT_SK } from "../../src/state/table.js";
import { GitLabApiSim } from "../support/gitlab-api-sim.js";
import {
  clientsFor,
  createFixture,
  type Fixture,
  metricCount,
  type PrivateMoto,
  startPrivateMoto,
} from "./harness.js";

let moto: PrivateMoto;
beforeAll(async () => {
  moto = await startPrivateMoto();
});
afterAll(() => moto?.moto.stop());

const pending = (jobId: number, projectId = 42): JobEventInput => ({
  kind: "build",
  status: "pending",
  projectId,
  jobId,
  runner: null,
});

const single = { runners: [{ name: "default", tags: ["fargate"], runUntagged: true }] };
const slotStoreOf = (f: Fixture) => ({ db: f.clients.db, tableName: f.resources.stateTableName });

describe("exactly one manager", () => {
  it("a burst of 1,000 concurrent pending-job events starts one manager (RunTask counted in moto)", async () => {
    const f = await createFixture(moto.endpoint, single);
    f.faults.record.add("RunTask");
    // Fifty concurrent Lambda containers, each with its own clients and, like a real container, one event at a
    // time: the first fifty events race for the slot at once, the rest arrive while it is being claimed and used.
    const containers = Array.from({ length: 50 }, () => {
      const { clients } = clientsFor(moto.endpoint);
      return { ...f.deps, db: clients.db, ecs: clients.ecs };
    });
    const outcomes = (
      await Promise.all(
        containers.map(async (deps, c) => {
          const handled = [];
          for (let i = c; i < 1000; i += containers.length)
            handled.push(await handlePendingJob(deps, pending(10_000 + i)));
          return handled;
        }),
      )
    ).flat();
    expect(outcomes).toHaveLength(1000);
    const started = outcomes.filter((o) => o.action === "started");
    expect(started).toHaveLength(1);
    expect(outcomes.filter((o) => o.action === "starting" || o.action === "already-running")).toHaveLength(
      999,
    );
    expect(await f.runningManagers("default")).toHaveLength(1);
    const slot = await readSlot(slotStoreOf(f), "default");
    expect(slot).toMatchObject({ state: "ACTIVE", taskArn: (started[0] as { taskArn: string }).taskArn });
  });

  it("starts the task with startedBy, tags, the network and capacity settings, and no overrides (token via secrets)", async () => {
    const f = await createFixture(moto.endpoint, single);
    f.faults.record.add("RunTask");
    const outcome = await handlePendingJob(f.deps, pending(1));
    expect(outcome.action).toBe("started");
    const request = JSON.parse(f.faults.recorded.find((r) => r.operation === "RunTask")!.body);
    expect(request).toMatchObject({
      startedBy: "sgr-manager/default",
      capacityProviderStrategy: [{ capacityProvider: "FARGATE", weight: 1 }],
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: f.resources.subnetIds,
          securityGroups: f.resources.managerSecurityGroupIds,
          assignPublicIp: "ENABLED",
        },
      },
    });
    expect(request.tags).toEqual(expect.arrayContaining([{ key: "sgr:runner", value: "default" }]));
    expect(request.overrides).toBeUndefined();
    expect(JSON.stringify(request)).not.toMatch(/RUNNER_TOKEN|glrt-/);
    const task = (
      await f.ecs.send(
        new DescribeTasksCommand({
          cluster: f.resources.clusterArn,
          tasks: [(outcome as { taskArn: string }).taskArn],
          include: ["TAGS"],
        }),
      )
    ).tasks![0]!;
    expect(task.startedBy).toBe("sgr-manager/default");
    expect(task.capacityProviderName).toBe("FARGATE");
    expect(task.overrides?.containerOverrides ?? []).toEqual([]);
  });
});

describe("Fargate Spot", () => {
  const spot = {
    runners: [
      {
        name: "spot",
        tags: ["fargate"],
        manager: { capacity: "FARGATE_SPOT" as const, architecture: "x86_64" as const },
      },
    ],
  };

  it("runs the manager on FARGATE_SPOT when configured", async () => {
    const f = await createFixture(moto.endpoint, spot);
    const outcome = await ensureManager(f.deps, f.config.runners[0]!);
    expect(outcome).toMatchObject({ action: "started", capacity: "FARGATE_SPOT" });
    const task = (
      await f.ecs.send(
        new DescribeTasksCommand({
          cluster: f.resources.clusterArn,
          tasks: [(outcome as { taskArn: string }).taskArn],
        }),
      )
    ).tasks![0]!;
    expect(task.capacityProviderName).toBe("FARGATE_SPOT");
  });

  it("falls back to FARGATE when RunTask reports Spot capacity unavailable in `failures`", async () => {
    const f = await createFixture(moto.endpoint, spot);
    f.faults.inject({
      operation: "RunTask",
      kind: "canned",
      times: 1,
      bodyIncludes: "FARGATE_SPOT",
      body: {
        tasks: [],
        failures: [
          {
            reason:
              "Capacity is unavailable at this time. Please try again later or in a different availability zone",
          },
        ],
      },
    });
    const outcome = await ensureManager(f.deps, f.config.runners[0]!);
    expect(outcome).toMatchObject({ action: "started", capacity: "FARGATE" });
    expect(metricCount(f, METRICS.managerSpotFallback)).toBe(1);
    expect(await f.runningManagers("spot")).toHaveLength(1);
  });

  it("falls back to FARGATE when RunTask raises the capacity error as an exception", async () => {
    const f = await createFixture(moto.endpoint, spot);
    f.faults.inject({
      operation: "RunTask",
      kind: "error",
      times: 1,
      bodyIncludes: "FARGATE_SPOT",
      body: {
        __type: "InvalidParameterException",
        message: "Capacity is unavailable at this time. Please try again later",
      },
    });
    const outcome = await ensureManager(f.deps, f.config.runners[0]!);
    expect(outcome).toMatchObject({ action: "started", capacity: "FARGATE" });
  });
});

describe("slot housekeeping", () => {
  it("releases the slot when RunTask fails, and the retry starts the manager", async () => {
    const f = await createFixture(moto.endpoint, single);
    f.faults.inject({
      operation: "RunTask",
      kind: "canned",
      times: 1,
      body: { tasks: [], failures: [{ reason: "MISSING", arn: "x" }] },
    });
    await expect(handlePendingJob(f.deps, pending(1))).rejects.toThrow(/started no manager task: MISSING/);
    expect(await readSlot(slotStoreOf(f), "default")).toBeUndefined();
    expect(metricCount(f, METRICS.managerStartFailed)).toBe(1);
    expect((await handlePendingJob(f.deps, pending(1))).action).toBe("started");
    expect(await f.runningManagers("default")).toHaveLength(1);
  });

  it("takes over a STARTING slot whose holder died, but not a fresh one", async () => {
    const f = await createFixture(moto.endpoint, single);
    const dead = {
      pk: runnerPk("default"),
      sk: SLOT_SK,
      state: "STARTING",
      ownerToken: "dead",
      acquiredAt: f.clock.now,
    };
    await f.clients.db.send(new PutCommand({ TableName: f.resources.stateTableName, Item: dead }));
    expect((await handlePendingJob(f.deps, pending(1))).action).toBe("starting");
    f.clock.now += 3 * 60_000;
    expect((await handlePendingJob(f.deps, pending(1))).action).toBe("started");
    expect(await f.runningManagers("default")).toHaveLength(1);
  });

  it("frees the slot of a manager task that is gone and starts a new one", async () => {
    const f = await createFixture(moto.endpoint, single);
    const first = (await handlePendingJob(f.deps, pending(1))) as { taskArn: string };
    await f.ecs.send(
      new StopTaskCommand({
        cluster: f.resources.clusterArn,
        task: first.taskArn,
        reason: "Essential container exited",
      }),
    );
    // Within the liveness interval the slot is trusted as is.
    expect((await handlePendingJob(f.deps, pending(2))).action).toBe("already-running");
    f.clock.now += 61_000;
    const second = await handlePendingJob(f.deps, pending(3));
    expect(second.action).toBe("started");
    expect((second as { taskArn: string }).taskArn).not.toBe(first.taskArn);
    expect(metricCount(f, METRICS.managerCrashed)).toBe(1);
    expect(await f.runningManagers("default")).toHaveLength(1);
  });
});

describe("REST confirmation", () => {
  const sim = new GitLabApiSim("glpat-scale-up");
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());
  const two = {
    runners: [
      { name: "small", tags: ["fargate"], runUntagged: true },
      { name: "big", tags: ["fargate", "4vcpu"] },
    ],
  };
  const withApi = async () => {
    const f = await createFixture(moto.endpoint, two);
    f.gitlab = new GitLabRestClient({
      baseUrl: sim.url,
      token: "glpat-scale-up",
      maxAttempts: 2,
      baseDelayMs: 1,
    });
    return f;
  };

  it("starts the configuration whose tags fit the job's tag_list", async () => {
    const f = await withApi();
    sim.addJob({ id: 501, projectId: 9, status: "pending", tagList: ["fargate", "4vcpu"] });
    expect(await handlePendingJob(f.deps, pending(501, 9))).toMatchObject({
      action: "started",
      runner: "big",
      tagsFrom: "api",
    });
    expect(await f.runningManagers("small")).toHaveLength(0);
  });

  it("starts nothing for a job that is no longer pending, or whose tags no configuration has", async () => {
    const f = await withApi();
    sim.addJob({ id: 502, projectId: 9, status: "canceled", tagList: [] });
    sim.addJob({ id: 503, projectId: 9, status: "pending", tagList: ["gpu"] });
    expect((await handlePendingJob(f.deps, pending(502, 9))).action).toBe("ignored");
    expect((await handlePendingJob(f.deps, pending(503, 9))).action).toBe("no-matching-runner");
    expect([...(await f.runningManagers("small")), ...(await f.runningManagers("big"))]).toHaveLength(0);
  });

  it("fails open when the API errors: every configuration gets a manager", async () => {
    const f = await withApi();
    sim.queueFault({ status: 503, pathIncludes: "/jobs/504" }, { status: 503, pathIncludes: "/jobs/504" });
    expect(await handlePendingJob(f.deps, pending(504, 9))).toMatchObject({
      action: "started",
      tagsFrom: "unknown",
    });
    expect(await f.runningManagers("small")).toHaveLength(1);
    expect(await f.runningManagers("big")).toHaveLength(1);
    expect(f.logs.some((l) => l.level === "warn" && /failing open/.test(l.message))).toBe(true);
    expect(JSON.stringify(f.logs)).not.toContain("glpat-scale-up"); // the API token never reaches a log line
  });

  it("without a token, a single configuration is started without any API call", async () => {
    const f = await createFixture(moto.endpoint, single);
    const before = sim.requests.length;
    expect(await handlePendingJob(f.deps, pending(505, 9))).toMatchObject({
      action: "started",
      tagsFrom: "unknown",
    });
    expect(sim.requests.length).toBe(before);
  });
});
