/**
 * End to end, a job's end other than success: cancelled mid-script (graceful: after_script runs), over its timeout,
 * and a failing script whose after_script still runs. Each ends promptly and leaves its task stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobImages } from "../../scripts/images/job-images.js";
import type { SimJob } from "../support/gitlab-sim.js";
import {
  endWorld,
  expectJobTasksStopped,
  type JobsWorld,
  startJobsWorld,
  traceOf,
  WORLD_START_TIMEOUT_MS,
  WORLD_STOP_TIMEOUT_MS,
  waitForTrace,
} from "./jobs-support.js";
import type { World } from "./world/world.js";

let world: World | undefined;
let images: JobImages;
let send: JobsWorld["send"];
const jobs: Record<"cancel" | "timeout" | "failing", SimJob> = {} as never;
let cancelledAt = 0;

beforeAll(async () => {
  ({ world, images, send } = await startJobsWorld());
  jobs.cancel = send({
    name: "cancel",
    image: images.debian.name,
    script: ["echo cancel-started", "sleep 600", "echo cancel-not-reached"],
    afterScript: ['echo "after-script-on-cancel $CI_JOB_STATUS"'],
  });
  jobs.timeout = send({
    name: "timeout",
    image: images.debian.name,
    timeoutSeconds: 30,
    script: ["echo timeout-started", "sleep 600", "echo timeout-not-reached"],
  });
  jobs.failing = send({
    name: "failing",
    image: images.debian.name,
    script: ["echo failing-now", "exit 3"],
    afterScript: ['echo "after-script-on-failure $CI_JOB_STATUS"'],
  });
  await waitForTrace(world, jobs.cancel, "cancel-started");
  cancelledAt = Date.now();
  world.sim.cancel(jobs.cancel);
  await Promise.all(Object.values(jobs).map((job) => world!.waitForJob(job, 600_000)));
}, WORLD_START_TIMEOUT_MS);

afterAll(() => endWorld(world), WORLD_STOP_TIMEOUT_MS);

describe("cancel, timeout, after_script", () => {
  it("cancelled mid-script: the job ends canceled soon after, after_script ran, the rest of the script did not", async () => {
    const job = jobs.cancel;
    const trace = traceOf(world!, job);
    expect(job.status, trace).toBe("canceled");
    expect(trace).not.toContain("cancel-not-reached");
    expect(trace).toMatch(/after-script-on-cancel canceled/);
    expect(job.finishedAt! - cancelledAt, "cancel took too long").toBeLessThan(120_000);
    await expectJobTasksStopped(world!, job);
  });

  it("over its timeout: failed as job_execution_timeout, the script stopped", async () => {
    const job = jobs.timeout;
    const trace = traceOf(world!, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("job_execution_timeout");
    expect(trace).toContain("timeout-started");
    expect(trace).not.toContain("timeout-not-reached");
    await expectJobTasksStopped(world!, job);
  });

  it("a failing script: failed as script_failure, after_script ran and saw the failure", async () => {
    const job = jobs.failing;
    const trace = traceOf(world!, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("script_failure");
    expect(trace).toMatch(/after-script-on-failure failed/);
    expect(trace).toMatch(/Job failed: exit status 3/);
    await expectJobTasksStopped(world!, job);
  });
});
