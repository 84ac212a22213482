/**
 * The GitLab simulator against the real gitlab-runner with its own shell executor: proves the simulator speaks the
 * runner's protocol (clone over HTTP, S3 cache, artifacts, exit codes, cancel, timeout) and is the baseline the
 * driver's e2e tests and benchmark compare with.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GITLAB_RUNNER_VERSION, type RunnerProcess, startRunner } from "../support/gitlab-sim-runner.js";
import { cacheObjectKeys, createWorld, type E2eWorld, plainTrace, runJob } from "./e2e-support.js";

let world: E2eWorld;
let runner: RunnerProcess;
let token: string;

beforeAll(async () => {
  world = await createWorld();
  token = world.sim.addRunner();
  runner = startRunner({
    url: world.sim.url,
    concurrent: 4,
    runners: [{ name: "shell", token, executor: "shell", cache: world.cache }],
  });
});

afterAll(async () => {
  await runner?.stop();
  await world?.close();
});

describe("real gitlab-runner (shell executor) against the GitLab simulator", () => {
  it("clones over HTTP, saves the cache to S3, uploads artifacts; a later job gets both", async () => {
    const first = await runJob(world, token, {
      name: "build",
      script: [
        "cat README.md",
        "sh scripts/greet.sh",
        "mkdir -p out vendor",
        "echo built-$CI_JOB_ID > out/result.txt",
        "echo cached-data > vendor/dep.txt",
      ],
      cache: { key: "deps-shell", paths: ["vendor/"] },
      artifacts: { paths: ["out/"] },
    });
    const trace = plainTrace(world, first);
    expect(first.final?.state, trace).toBe("success");
    // The binary built by scripts/install-gitlab-runner.sh, pinned.
    expect(trace).toContain(`Running with gitlab-runner ${GITLAB_RUNNER_VERSION} (fc1f1862bd91)`);
    expect(trace).toContain("hello from git");
    expect(trace).toContain("greeting from the repository script");
    expect(trace).toMatch(/Created cache|Uploading cache/);
    expect(trace).toContain("Uploading artifacts");
    expect(first.artifacts.map((a) => a.type)).toContain("archive");
    expect((await cacheObjectKeys(world)).some((key) => key.includes("deps-shell"))).toBe(true);
    // Two-phase commit: acknowledged as running before anything else.
    expect(first.updates[0]?.state).toBe("running");
    expect(world.sim.lastRunnerFeatures?.two_phase_job_commit).toBe(true);

    const second = await runJob(world, token, {
      name: "test",
      script: ["cat out/result.txt", "cat vendor/dep.txt"],
      cache: { key: "deps-shell", paths: ["vendor/"], policy: "pull" },
      dependencies: [first],
    });
    const trace2 = plainTrace(world, second);
    expect(second.final?.state, trace2).toBe("success");
    expect(trace2).toContain(`built-${first.id}`);
    expect(trace2).toContain("cached-data");
    expect(trace2).toContain("Downloading artifacts");
  });

  it("reports a failing script's exit code (allow_failure: exit_codes) and still runs after_script", async () => {
    const job = await runJob(world, token, {
      name: "flaky",
      script: ["echo before-failure", "exit 42", "echo never-printed"],
      afterScript: ["echo after-script-ran"],
      allowFailureExitCodes: [42],
    });
    const trace = plainTrace(world, job);
    expect(job.final).toMatchObject({ state: "failed", failureReason: "script_failure", exitCode: 42 });
    expect(world.sim.allowedToFail(job)).toBe(true);
    expect(trace).toContain("before-failure");
    expect(trace).not.toContain("never-printed");
    expect(trace).toContain("after-script-ran");
  });

  it("cancels a running job when GitLab says canceling, then runs after_script", async () => {
    const job = world.sim.enqueue({
      name: "long",
      runnerToken: token,
      git: { repoUrl: world.repo.url, sha: world.repo.sha, ref: world.repo.ref },
      // Ticks keep trace patches flowing, and the cancel arrives on a patch response.
      script: [
        "echo started-long",
        "for i in $(seq 1 120); do echo tick-$i; sleep 1; done",
        "echo not-reached",
      ],
      afterScript: ["echo after-cancel"],
    });
    await world.sim.waitForTrace(job, "tick-1", 60_000);
    world.sim.cancel(job);
    await world.sim.waitForFinal(job, 60_000);
    const trace = plainTrace(world, job);
    expect(job.status).toBe("canceled");
    expect(job.final).toMatchObject({ state: "failed", failureReason: "job_canceled" });
    expect(trace).not.toContain("not-reached");
    expect(trace).toContain("after-cancel");
  });

  it("fails a job that outlives its timeout with job_execution_timeout", async () => {
    const started = Date.now();
    const job = await runJob(world, token, { name: "slow", script: ["sleep 120"], timeoutSeconds: 3 });
    expect(job.final).toMatchObject({ state: "failed", failureReason: "job_execution_timeout" });
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
