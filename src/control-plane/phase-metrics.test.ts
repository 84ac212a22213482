/** The queue-to-start phase, job duration and cost-per-job metrics added for the operator dashboard. */
import { describe, expect, it } from "vitest";
import { conditionalFailure, fakeDeps, scripted } from "../../test/support/state-fakes.js";
import { METRICS } from "../observability/metric-names.js";
import { recordJobEvent } from "../state/job-records.js";
import type { StateDb } from "../state/table.js";
import { handlePendingJob } from "./scale-up.js";

const NOW = 1_700_000_000_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

function recorder() {
  const metrics: { name: string; value: number }[] = [];
  return {
    metrics,
    sink: {
      count: (name: string, value = 1) => metrics.push({ name, value }),
      seconds: (name: string, value: number) => metrics.push({ name, value }),
      value: (name: string, value: number) => metrics.push({ name, value }),
    },
  };
}

describe("job duration and cost per job", () => {
  it("a finished job emits its running → finished duration and the estimated cost of that duration", async () => {
    const db = scripted<StateDb>({
      UpdateCommand: () => ({ Attributes: { statusRank: 2, runningSeenAt: NOW - 90_000 } }),
      DeleteCommand: () => ({}),
    });
    const { metrics, sink } = recorder();
    const priced: number[] = [];
    await recordJobEvent(
      {
        db: db.client,
        tableName: "s",
        logger: silent,
        metrics: sink,
        jobCostUsd: (_event, seconds) => {
          priced.push(seconds);
          return 0.0042;
        },
      },
      { status: "success", projectId: 1, jobId: 2, receivedAt: NOW },
      NOW,
    );
    expect(priced).toEqual([90]);
    expect(metrics).toEqual(
      expect.arrayContaining([
        { name: METRICS.jobSucceeded, value: 1 },
        { name: METRICS.jobDurationSeconds, value: 90 },
        { name: METRICS.jobEstimatedCostUsd, value: 0.0042 },
      ]),
    );
  });

  it("emits neither when the running event was never seen, nor for a duplicate finish", async () => {
    const { metrics, sink } = recorder();
    const neverRan = scripted<StateDb>({
      UpdateCommand: () => ({ Attributes: { statusRank: 1 } }),
      DeleteCommand: () => ({}),
    });
    const deps = { db: neverRan.client, tableName: "s", logger: silent, metrics: sink, jobCostUsd: () => 1 };
    await recordJobEvent(deps, { status: "failed", projectId: 1, jobId: 3, receivedAt: NOW }, NOW);
    const duplicate = scripted<StateDb>({ UpdateCommand: conditionalFailure, DeleteCommand: () => ({}) });
    await recordJobEvent(
      { ...deps, db: duplicate.client },
      { status: "failed", projectId: 1, jobId: 3 },
      NOW,
    );
    expect(metrics.map((m) => m.name)).toEqual([METRICS.jobFailed]);
  });
});

describe("queue-to-start phase: webhook → manager start request", () => {
  it("is emitted when the pending job's event started a manager, measured from the event's receipt", async () => {
    const { deps, metrics } = fakeDeps({
      now: NOW,
      db: { PutCommand: () => ({}), TransactWriteCommand: () => ({}) },
      ecs: {
        RunTaskCommand: () => ({ tasks: [{ taskArn: "arn:aws:ecs:us-east-1:1:task/c/abc" }], failures: [] }),
      },
    });
    const outcome = await handlePendingJob(deps, {
      status: "pending",
      projectId: 1,
      jobId: 2,
      receivedAt: new Date(NOW - 1_500).toISOString(),
    });
    expect(outcome.action).toBe("started");
    expect(metrics).toContainEqual({ name: METRICS.jobWebhookToManagerStartSeconds, value: 1.5 });
  });

  it("is not emitted when a manager was already being started", async () => {
    const { deps, metrics } = fakeDeps({
      now: NOW,
      db: {
        PutCommand: conditionalFailure,
        GetCommand: () => ({
          Item: {
            pk: "RUNNER#default",
            sk: "SLOT",
            state: "STARTING",
            ownerToken: "t",
            acquiredAt: NOW - 1000,
          },
        }),
      },
    });
    const outcome = await handlePendingJob(deps, {
      status: "pending",
      projectId: 1,
      jobId: 2,
      receivedAt: NOW - 1000,
    });
    expect(outcome.action).toBe("starting");
    expect(metrics.map((m) => m.name)).not.toContain(METRICS.jobWebhookToManagerStartSeconds);
  });
});
