/**
 * End to end, a job's end other than success: cancelled mid-script (graceful: after_script runs), over its timeout,
 * and a failing script whose after_script still runs. Each ends promptly and leaves its task stopped.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { SimJob } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS, waitForTrace } from "./jobs-support.js";
import { plainTrace } from "./world/jobs.js";

const jobs: Record<"cancel" | "timeout" | "failing", SimJob> = {} as never;
let cancelledAt = 0;

const jobsWorld = useJobsWorld();

beforeAll(async () => {
  jobs.cancel = jobsWorld.send({
    name: "cancel",
    image: jobsWorld.images.debian.name,
    script: ["echo cancel-started", "sleep 600", "echo cancel-not-reached"],
    afterScript: ['echo "after-script-on-cancel $CI_JOB_STATUS"'],
  });
  jobs.timeout = jobsWorld.send({
    name: "timeout",
    image: jobsWorld.images.debian.name,
    timeoutSeconds: 30,
    script: ["echo timeout-started", "sleep 600", "echo timeout-not-reached"],
  });
  jobs.failing = jobsWorld.send({
    name: "failing",
    image: jobsWorld.images.debian.name,
    script: ["echo failing-now", "exit 3"],
    afterScript: ['echo "after-script-on-failure $CI_JOB_STATUS"'],
  });
  await waitForTrace(jobsWorld.world, jobs.cancel, "cancel-started");
  cancelledAt = Date.now();
  jobsWorld.world.sim.cancel(jobs.cancel);
  await Promise.all(Object.values(jobs).map((job) => jobsWorld.world.waitForJob(job, 600_000)));
}, WORLD_START_TIMEOUT_MS);

describe("cancel, timeout, after_script", () => {
  it("cancelled mid-script: the job ends canceled soon after, after_script ran, the rest of the script did not", async () => {
    const job = jobs.cancel;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.status, trace).toBe("canceled");
    expect(trace).not.toContain("cancel-not-reached");
    expect(trace).toMatch(/after-script-on-cancel canceled/);
    expect(job.finishedAt! - cancelledAt, "cancel took too long").toBeLessThan(120_000);
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("over its timeout: failed as job_execution_timeout, the script stopped", async () => {
    const job = jobs.timeout;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("job_execution_timeout");
    expect(trace).toContain("timeout-started");
    expect(trace).not.toContain("timeout-not-reached");
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("a failing script: failed as script_failure, after_script ran and saw the failure", async () => {
    const job = jobs.failing;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("script_failure");
    expect(trace).toMatch(/after-script-on-failure failed/);
    expect(trace).toMatch(/Job failed: exit status 3/);
    await expectJobTasksStopped(jobsWorld.world, job);
  });
});
