/**
 * The driver keeps the manager's record in the state table current (moto): prepare adds the job's id to
 * `runningJobIds`, cleanup deletes it, however often gitlab-runner retries either, through the real stages on the
 * local backend.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type DriverDaemon, startDriverDaemon } from "../../src/driver/daemon/index.js";
import type { EmfProperties } from "../../src/observability/emf.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { stateTableJobCounter } from "../../src/state/job-counter.js";
import { recordJobTaskSize } from "../../src/state/job-task-size.js";
import { JOB_SK, jobPk, managerSk, runnerPk } from "../../src/state/table.js";
import { ensureDriverBuilt } from "../driver/support/build.js";
import { fakeJob, removeFakeJobDirs } from "../driver/support/stage-runner.js";
import { createStateTable } from "../support/state-table.js";

const table = `sgr-driver-counter-${randomBytes(4).toString("hex")}`;
const runnerName = "counter-runner";
const managerTaskId = randomBytes(8).toString("hex");
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
let daemon: DriverDaemon;
let work: string;
const emitted: { name: string; unit: string; value: number; properties?: EmfProperties }[] = [];

const record = async () =>
  (
    await db.send(
      new GetCommand({ TableName: table, Key: { pk: runnerPk(runnerName), sk: managerSk(managerTaskId) } }),
    )
  ).Item;

beforeAll(async () => {
  await createStateTable(table);
  await db.send(
    new PutCommand({
      TableName: table,
      Item: { pk: runnerPk(runnerName), sk: managerSk(managerTaskId), state: "RUNNING" },
    }),
  );
  const build = ensureDriverBuilt();
  work = mkdtempSync(join(tmpdir(), "sgr-counter-test-"));
  daemon = await startDriverDaemon({
    socketPath: join(work, "daemon.sock"),
    agentBinary: build.agent,
    jobCounter: stateTableJobCounter(db, table, () => 1_700_000_000_000),
    metrics: {
      seconds: (name, value, properties) => emitted.push({ name, unit: "Seconds", value, properties }),
      usd: (name, value, properties) => emitted.push({ name, unit: "None", value, properties }),
    },
  });
});

afterAll(async () => {
  for (const job of daemon?.context.jobs.values() ?? [])
    await job.backend.stopTask(job.taskId, "test teardown");
  await daemon?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  removeFakeJobDirs();
});

describe("job counter on the manager record", () => {
  it("records the job at prepare and forgets it at cleanup, however often either runs", async () => {
    const job = fakeJob({
      client: ensureDriverBuilt().client,
      baseEnv: {
        SGR_DRIVER_SOCKET: join(work, "daemon.sock"),
        SGR_DRIVER_BACKEND: "local",
        SGR_LOCAL_DIR: join(work, "tasks"),
        SGR_RUNNER_NAME: runnerName,
        SGR_MANAGER_TASK_ID: managerTaskId,
      },
    });
    await job.stage(["config"]);
    const prepared = await job.stage(["prepare"]);
    expect(prepared.code, prepared.stdout).toBe(0);
    expect(await record()).toMatchObject({
      runningJobIds: new Set([job.id]),
      lastJobStartedAt: 1_700_000_000_000,
    });
    // gitlab-runner retries a failed preparation: the job is recorded once, not twice.
    const retried = await job.stage(["prepare"]);
    expect(retried.code, retried.stdout).toBe(0);
    expect((await record())?.runningJobIds).toEqual(new Set([job.id]));
    expect((await job.stage(["cleanup"])).code).toBe(0);
    expect((await record())?.runningJobIds).toBeUndefined();
    expect((await job.stage(["cleanup"])).code).toBe(0);
    expect((await record())?.runningJobIds).toBeUndefined();
  });

  it("a lost cleanup of one job does not stop another job's cleanup from counting", async () => {
    const counter = stateTableJobCounter(db, table);
    const identity = (jobId: string) => ({ runnerName, projectId: "3", jobId, managerTaskId });
    await counter.started(identity("901"));
    await counter.started(identity("902"));
    await counter.finished(identity("902"));
    await counter.finished(identity("902"));
    // 901's cleanup never came: only 901 is left, by name, for the idle check to judge by its age.
    expect((await record())?.runningJobIds).toEqual(new Set(["901"]));
    await counter.finished(identity("901"));
    expect((await record())?.runningJobIds).toBeUndefined();
  });

  it("records the task's real size on the job record and emits its cost once, however often cleanup runs", async () => {
    const job = fakeJob({
      client: ensureDriverBuilt().client,
      baseEnv: {
        SGR_DRIVER_SOCKET: join(work, "daemon.sock"),
        SGR_DRIVER_BACKEND: "local",
        SGR_LOCAL_DIR: join(work, "tasks"),
        SGR_RUNNER_NAME: runnerName,
        SGR_MANAGER_TASK_ID: managerTaskId,
      },
      variables: { SGR_CPU: "2", SGR_MEMORY: "4Gi", SGR_CAPACITY: "on-demand" },
    });
    const jobKey = { pk: jobPk(42, Number(job.id)), sk: JOB_SK };
    // The job-status function's record, as it stands when the job runs.
    const statusFields = {
      status: "running",
      statusRank: 2,
      projectId: 42,
      jobId: Number(job.id),
      updatedAt: 1,
    };
    await db.send(new PutCommand({ TableName: table, Item: { ...jobKey, ...statusFields } }));
    await job.stage(["config"]);
    const prepared = await job.stage(["prepare"]);
    expect(prepared.code, prepared.stdout).toBe(0);
    const jobRecord = async () => (await db.send(new GetCommand({ TableName: table, Key: jobKey }))).Item;
    // Prepare does not wait for this write.
    await vi.waitFor(async () =>
      expect(await jobRecord()).toEqual({
        ...jobKey,
        ...statusFields,
        taskCpu: 2048,
        taskMemoryMiB: 4096,
        taskEphemeralStorageGiB: 21, // the default job size's disk
        taskArchitecture: "x86_64",
        taskCapacity: "FARGATE",
      }),
    );
    const preparedMs = Date.now();
    expect(
      emitted.filter((m) => m.properties?.jobId === job.id && m.name === METRICS.jobTaskCostUsd),
    ).toEqual([]);

    await new Promise((r) => setTimeout(r, 200));
    expect((await job.stage(["cleanup"])).code).toBe(0);
    const taskSecondsUpper = (Date.now() - preparedMs) / 1000 + 60;
    expect((await job.stage(["cleanup"])).code).toBe(0);

    const mine = emitted.filter((m) => m.properties?.jobId === job.id);
    const cost = mine.filter((m) => m.name === METRICS.jobTaskCostUsd);
    const seconds = mine.filter((m) => m.name === METRICS.jobTaskSeconds);
    expect(cost).toHaveLength(1);
    expect(seconds).toHaveLength(1);
    expect(cost[0]?.unit).toBe("None");
    expect(seconds[0]?.value).toBeGreaterThanOrEqual(0.2);
    expect(seconds[0]?.value).toBeLessThan(taskSecondsUpper);
    // A sub-minute task bills one minute: 2 vCPU + 4 GB + 1 GiB disk beyond the free 20, on-demand for 60 s
    // (us-east-1 list prices) is 0.0016475 USD.
    expect(cost[0]?.value).toBeCloseTo((2 * 0.04048 + 4 * 0.004445 + 0.000111) / 60, 9);
    expect(cost[0]?.properties).toMatchObject({
      cpu: 2048,
      memoryMiB: 4096,
      architecture: "x86_64",
      capacity: "FARGATE",
    });
    // Status fields untouched by the size writes.
    expect(await jobRecord()).toMatchObject(statusFields);
  });

  it("never creates a job record the job-status function has not written", async () => {
    const identity = { runnerName, projectId: "42", jobId: "77777777", managerTaskId };
    const task = { cpu: 1024, memoryMiB: 2048, architecture: "arm64", capacity: "FARGATE" } as const;
    expect(await recordJobTaskSize(db, table, identity, task)).toBe(false);
    const item = await db.send(
      new GetCommand({ TableName: table, Key: { pk: jobPk(42, 77777777), sk: JOB_SK } }),
    );
    expect(item.Item).toBeUndefined();
  });

  it("does not create a record for a manager the table does not know", async () => {
    const counter = stateTableJobCounter(db, table);
    const stranger = { runnerName, projectId: "1", jobId: "5", managerTaskId: "unknown-task" };
    await expect(counter.started(stranger)).rejects.toThrow(/conditional/i);
    const item = await db.send(
      new GetCommand({ TableName: table, Key: { pk: runnerPk(runnerName), sk: managerSk("unknown-task") } }),
    );
    expect(item.Item).toBeUndefined();
  });
});
