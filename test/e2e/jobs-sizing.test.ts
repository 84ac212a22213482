/**
 * End to end, per-job settings: a size above the runner's maximum is clamped with a warning in the job log and the
 * task runs at the maximum; arm64 requested where no arm64 image exists fails the job clearly (the pull error, as a
 * system failure), never a hang.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { SimJob } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

const jobs: Record<"oversized" | "arm64", SimJob> = {} as never;

const jobsWorld = useJobsWorld({
  runner: {
    jobs: {
      defaultImage: "debian:bookworm-slim",
      defaultSize: { cpu: 256, memoryMiB: 512, ephemeralStorageGiB: 21 },
      maxSize: { cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 30 },
      capacity: "FARGATE",
      // arm64 is allowed, but only amd64 images are built here.
      architectures: ["x86_64", "arm64"],
      defaultArchitecture: "x86_64",
    },
  },
});

beforeAll(async () => {
  jobs.oversized = jobsWorld.send({
    name: "oversized",
    image: jobsWorld.images.debian.name,
    variables: { SGR_CPU: "4", SGR_MEMORY: "8Gi" },
    script: ["echo sized-job-ran"],
  });
  jobs.arm64 = jobsWorld.send({
    name: "arm64",
    image: jobsWorld.images.debian.name,
    variables: { SGR_ARCH: "arm64" },
    script: ["echo never"],
  });
  await Promise.all(Object.values(jobs).map((job) => jobsWorld.world.waitForJob(job, 600_000)));
}, WORLD_START_TIMEOUT_MS);

describe("per-job size and architecture", () => {
  it("a size above the maximum is clamped, with a warning in the log, and the task gets the maximum", async () => {
    const job = jobs.oversized;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toMatch(/WARNING: SGR_CPU=4 is above this runner's maximum/);
    expect(trace).toMatch(/WARNING: SGR_MEMORY=8Gi is above this runner's maximum/);
    expect(trace).toContain("sized-job-ran");
    const [task] = jobTasksOf(jobsWorld.world, job);
    expect([task?.task.cpu, task?.task.memory]).toEqual(["1024", "2048"]);
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("arm64 where no arm64 image exists: a system failure naming the pull error", async () => {
    const job = jobs.arm64;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("runner_system_failure");
    expect(trace).toMatch(/CannotPullContainerError|arm64/);
    expect(trace).not.toMatch(/^never$/m);
    for (const t of jobTasksOf(jobsWorld.world, job))
      expect(t.task.lastStatus, t.task.taskArn).toBe("STOPPED");
  });
});
