/**
 * The driver's queue-to-start phase metrics through the real production path: the thin Go client starts the
 * daemon detached (as under gitlab-runner in the manager), the daemon writes EMF lines on its stdout, which the
 * client points at `<socket>.log` (the file the manager copies into the container log, src/manager/daemon-log.ts).
 * A job runs on the local backend; each metric must appear exactly once with a value that fits the job's timing.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmfDocument } from "../../src/observability/emf.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { type DriverBuild, ensureDriverBuilt } from "./support/build.js";
import { stopSpawnedDaemon } from "./support/spawned-daemon.js";
import { fakeJob, removeFakeJobDirs, type StageResult } from "./support/stage-runner.js";

let build: DriverBuild;
let work: string;
let socketPath: string;
let baseEnv: Record<string, string>;

beforeAll(() => {
  build = ensureDriverBuilt();
  work = mkdtempSync(join(tmpdir(), "sgr-driver-metrics-"));
  socketPath = join(work, "run", "daemon.sock");
  baseEnv = {
    SGR_DRIVER_SOCKET: socketPath,
    SGR_DRIVER_BACKEND: "local",
    SGR_LOCAL_DIR: join(work, "tasks"),
    SGR_DRIVER_NODE: process.execPath,
    SGR_AGENT_BINARY: build.agent,
    SGR_DRIVER_DAEMON_IDLE_SECONDS: "60",
  };
});

afterAll(async () => {
  await stopSpawnedDaemon(socketPath);
  if (work) rmSync(work, { recursive: true, force: true });
  removeFakeJobDirs();
});

async function expectOk(stage: Promise<StageResult>): Promise<StageResult> {
  const result = await stage;
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

type EmfDoc = EmfDocument & { jobId: string };

/** EMF documents of one metric and job in the daemon's log. */
function emitted(metric: string, jobId: string): EmfDoc[] {
  return readFileSync(`${socketPath}.log`, "utf8")
    .split("\n")
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as EmfDoc)
    .filter((d) => d._aws.CloudWatchMetrics[0]?.Metrics[0]?.Name === metric && d.jobId === jobId);
}

function secondsIn(doc: EmfDoc | undefined, metric: string): number {
  expect(doc?._aws.CloudWatchMetrics).toEqual([
    {
      Namespace: "ServerlessGitlabRunner",
      Dimensions: [["service"]],
      Metrics: [{ Name: metric, Unit: "Seconds" }],
    },
  ]);
  expect(doc?.service).toBe("manager");
  const value = doc?.[metric];
  expect(typeof value).toBe("number");
  return value as number;
}

describe("driver queue-to-start metrics", () => {
  it("a job emits 'job task running' and 'first script byte' exactly once each, counted from CI_JOB_STARTED_AT", async () => {
    // GitLab's value is whole seconds; pretend the runner took the job 2 s before the driver's first stage.
    const jobStartMs = Math.floor(Date.now() / 1000) * 1000 - 2_000;
    const job = fakeJob({
      client: build.client,
      baseEnv,
      variables: { CI_JOB_STARTED_AT: new Date(jobStartMs).toISOString().replace(".000Z", "Z") },
    });
    const config = await expectOk(job.stage(["config"]));
    const { builds_dir: buildsDir } = JSON.parse(config.stdout) as { builds_dir: string };
    await expectOk(job.stage(["prepare"]));
    const preparedMs = Date.now();
    // Helper-container output does not count: the user's image has not run yet.
    await expectOk(job.run("get_sources", `mkdir -p ${buildsDir}/p && echo fetched`));
    await new Promise((r) => setTimeout(r, 300));
    const beforeScriptMs = Date.now();
    const script = await expectOk(job.run("build_script", "echo first byte; sleep 0.2; echo later"));
    expect(script.stdout).toBe("first byte\nlater\n");
    const afterScriptMs = Date.now();
    // Later user-image stages of the same job do not emit again.
    await expectOk(job.run("after_script", "echo after"));
    await expectOk(job.stage(["cleanup"]));

    const taskRunning = emitted(METRICS.jobTaskRunningSeconds, job.id);
    expect(taskRunning).toHaveLength(1);
    const taskRunningSeconds = secondsIn(taskRunning[0], METRICS.jobTaskRunningSeconds);
    expect(taskRunningSeconds).toBeGreaterThanOrEqual(2);
    expect(taskRunningSeconds).toBeLessThanOrEqual((preparedMs - jobStartMs) / 1000);

    const firstByte = emitted(METRICS.jobFirstScriptByteSeconds, job.id);
    expect(firstByte).toHaveLength(1);
    const firstByteSeconds = secondsIn(firstByte[0], METRICS.jobFirstScriptByteSeconds);
    expect(firstByteSeconds).toBeGreaterThanOrEqual((beforeScriptMs - jobStartMs) / 1000);
    expect(firstByteSeconds).toBeLessThanOrEqual((afterScriptMs - jobStartMs) / 1000);

    // The job task's run time and cost, once per job even with a second cleanup (the runner may run it twice).
    await expectOk(job.stage(["cleanup"]));
    const taskSeconds = emitted(METRICS.jobTaskSeconds, job.id);
    expect(taskSeconds).toHaveLength(1);
    expect(secondsIn(taskSeconds[0], METRICS.jobTaskSeconds)).toBeLessThanOrEqual(
      (Date.now() - jobStartMs) / 1000,
    );
    const cost = emitted(METRICS.jobTaskCostUsd, job.id);
    expect(cost).toHaveLength(1);
    expect(cost[0]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: METRICS.jobTaskCostUsd, Unit: "None" },
    ]);
    expect(cost[0]?.service).toBe("manager");
    // Default job size (1 vCPU, 2 GB, 21 GiB disk) for the one-minute minimum, us-east-1: Spot or on-demand price.
    const minuteOnDemand = (0.04048 + 2 * 0.004445 + 0.000111) / 60;
    expect(cost[0]?.[METRICS.jobTaskCostUsd]).toBeGreaterThanOrEqual(minuteOnDemand * 0.3 - 1e-12);
    expect(cost[0]?.[METRICS.jobTaskCostUsd]).toBeLessThanOrEqual(minuteOnDemand + 1e-12);
  }, 60_000);

  it("without CI_JOB_STARTED_AT, counts from the prepare stage's start", async () => {
    const job = fakeJob({ client: build.client, baseEnv });
    await expectOk(job.stage(["config"]));
    const beforePrepareMs = Date.now();
    await expectOk(job.stage(["prepare"]));
    const prepareMs = Date.now() - beforePrepareMs;
    await expectOk(job.run("build_script", "echo hi"));
    await expectOk(job.stage(["cleanup"]));

    const taskRunning = emitted(METRICS.jobTaskRunningSeconds, job.id);
    expect(taskRunning).toHaveLength(1);
    const seconds = secondsIn(taskRunning[0], METRICS.jobTaskRunningSeconds);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(prepareMs / 1000);
    expect(emitted(METRICS.jobFirstScriptByteSeconds, job.id)).toHaveLength(1);
  }, 60_000);
});
