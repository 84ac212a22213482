/**
 * The project's proof: the REAL gitlab-runner (built from the Go module proxy) runs jobs handed out by the GitLab
 * simulator through OUR driver (custom executor → thin client → daemon → local backend: agent on the helper side,
 * busybox-only chroot on the user side). Clone over HTTP, S3 cache in moto, artifacts up and down, a service,
 * exit codes, after_script, cancel, timeout; and no job task or process is left behind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunnerProcess, startRunner } from "../support/gitlab-sim-runner.js";
import {
  cacheObjectKeys,
  createWorld,
  type DriverSetup,
  type E2eWorld,
  plainTrace,
  processesUnder,
  runJob,
  startDriver,
  waitForNoProcessesUnder,
} from "./e2e-support.js";
import { ensureDriverBuilt } from "./support/build.js";

let world: E2eWorld;
let driver: DriverSetup;
let runner: RunnerProcess;
let token: string;

beforeAll(async () => {
  const build = ensureDriverBuilt();
  world = await createWorld();
  driver = await startDriver(build.daemon);
  token = world.sim.addRunner();
  runner = startRunner({
    url: world.sim.url,
    concurrent: 4,
    env: driver.env,
    runners: [{ name: "driver", token, executor: "custom", driverClient: build.client, cache: world.cache }],
  });
});

afterEach(async () => {
  // Every job's task (agent, build loop, services, script processes) is gone once cleanup ran.
  expect(await waitForNoProcessesUnder(`${driver.workDir}/tasks`, 20_000)).toEqual([]);
});

afterAll(async () => {
  await runner?.stop();
  await driver?.stop();
  await world?.close();
  if (driver) expect(processesUnder(driver.workDir)).toEqual([]);
});

const withRunnerLog = (trace: string) => `${trace}\n--- gitlab-runner log ---\n${runner.log().slice(-4000)}`;

describe("real gitlab-runner + our driver on the local backend", () => {
  it("clones over HTTP, reaches a service, saves the S3 cache and uploads artifacts from a busybox-only image; a later job gets both", async () => {
    const first = await runJob(world, token, {
      name: "build",
      image: "busybox:latest",
      services: [{ name: "tcp-service:1", alias: "db" }],
      script: [
        "cat README.md",
        "sh scripts/greet.sh",
        // The user side is the busybox-only root: no bash, no git, no gitlab-runner.
        "for tool in bash git gitlab-runner; do command -v $tool >/dev/null || echo no-$tool; done",
        `nc db ${driver.servicePort} </dev/null`,
        "mkdir -p out vendor",
        "echo built-$CI_JOB_ID > out/result.txt",
        "echo cached-data > vendor/dep.txt",
      ],
      cache: { key: "deps-driver", paths: ["vendor/"] },
      artifacts: { paths: ["out/"] },
    });
    const trace = plainTrace(world, first);
    expect(first.final?.state, withRunnerLog(trace)).toBe("success");
    expect(trace).toContain("Using Custom executor with driver sgr-driver");
    expect(trace).toContain("hello from git");
    expect(trace).toContain("greeting from the repository script");
    expect(trace).toContain("no-bash");
    expect(trace).toContain("no-git");
    expect(trace).toContain("no-gitlab-runner");
    expect(trace).toContain("pong");
    expect(trace).toContain("Uploading artifacts");
    expect(first.artifacts.map((a) => a.type)).toContain("archive");
    expect((await cacheObjectKeys(world)).some((key) => key.includes("deps-driver"))).toBe(true);

    const second = await runJob(world, token, {
      name: "test",
      script: ["cat out/result.txt", "cat vendor/dep.txt"],
      cache: { key: "deps-driver", paths: ["vendor/"], policy: "pull" },
      dependencies: [first],
    });
    const trace2 = plainTrace(world, second);
    expect(second.final?.state, withRunnerLog(trace2)).toBe("success");
    expect(trace2).toContain(`built-${first.id}`);
    expect(trace2).toContain("cached-data");
    expect(trace2).toContain("Downloading artifacts");
  });

  it("reports a failing script's real exit code (allow_failure: exit_codes) and still runs after_script", async () => {
    const job = await runJob(world, token, {
      name: "flaky",
      script: ["echo before-failure", "exit 42", "echo never-printed"],
      afterScript: ["echo after-script-ran"],
      allowFailureExitCodes: [42],
    });
    const trace = plainTrace(world, job);
    expect(job.final, withRunnerLog(trace)).toMatchObject({
      state: "failed",
      failureReason: "script_failure",
      exitCode: 42,
    });
    expect(world.sim.allowedToFail(job)).toBe(true);
    expect(trace).toContain("before-failure");
    expect(trace).not.toContain("never-printed");
    expect(trace).toContain("after-script-ran");
  });

  it("stops a running script when GitLab cancels the job, then runs after_script", async () => {
    const job = world.sim.enqueue({
      name: "long",
      runnerToken: token,
      git: { repoUrl: world.repo.url, sha: world.repo.sha, ref: world.repo.ref },
      // Ticks keep trace patches flowing, and the cancel arrives on a patch response.
      script: [
        "echo started-long",
        "i=0; while [ $i -lt 120 ]; do echo tick-$i; i=$((i+1)); sleep 1; done",
        "echo not-reached",
      ],
      afterScript: ["echo after-cancel"],
    });
    await world.sim.waitForTrace(job, "tick-1", 90_000);
    const canceledAt = Date.now();
    world.sim.cancel(job);
    await world.sim.waitForFinal(job, 60_000);
    const trace = plainTrace(world, job);
    expect(job.status, withRunnerLog(trace)).toBe("canceled");
    expect(job.final).toMatchObject({ state: "failed", failureReason: "job_canceled" });
    expect(trace).not.toContain("not-reached");
    expect(trace).not.toContain("tick-60");
    expect(trace).toContain("after-cancel");
    expect(Date.now() - canceledAt).toBeLessThan(30_000);
  });

  it("aborts at once when GitLab answers Job-Status: canceled, and stops the task", async () => {
    const job = world.sim.enqueue({
      name: "aborted",
      runnerToken: token,
      git: { repoUrl: world.repo.url, sha: world.repo.sha, ref: world.repo.ref },
      script: ["i=0; while [ $i -lt 120 ]; do echo beat-$i; i=$((i+1)); sleep 1; done"],
    });
    await world.sim.waitForTrace(job, "beat-1", 90_000);
    world.sim.abort(job);
    // The runner's last word is refused (the job is already canceled), as GitLab does: wait for it in the record.
    const deadline = Date.now() + 30_000;
    while (!job.updates.some((u) => u.state === "failed") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(
      job.updates.map((u) => u.state),
      withRunnerLog(plainTrace(world, job)),
    ).toContain("failed");
    expect(plainTrace(world, job)).not.toContain("beat-60");
  });

  it("fails a job that outlives its timeout with job_execution_timeout and stops its task", async () => {
    const job = await runJob(world, token, {
      name: "slow",
      script: ["echo sleeping", "sleep 120"],
      timeoutSeconds: 8,
    });
    const trace = plainTrace(world, job);
    expect(job.final, withRunnerLog(trace)).toMatchObject({
      state: "failed",
      failureReason: "job_execution_timeout",
    });
    expect(trace).toContain("sleeping");
  });
});
