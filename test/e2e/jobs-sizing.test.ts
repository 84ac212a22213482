/**
 * End to end, per-job settings: a size above the runner's maximum is clamped with a warning in the job log and the
 * task runs at the maximum; arm64 requested where no arm64 image exists fails the job clearly (the pull error, as a
 * system failure), never a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobImages } from "../../scripts/images/job-images.js";
import type { SimJob } from "../support/gitlab-sim.js";
import {
  endWorld,
  expectJobTasksStopped,
  type JobsWorld,
  jobTasksOf,
  startJobsWorld,
  traceOf,
  WORLD_START_TIMEOUT_MS,
  WORLD_STOP_TIMEOUT_MS,
} from "./jobs-support.js";
import type { World } from "./world/world.js";

let world: World | undefined;
let images: JobImages;
let send: JobsWorld["send"];
const jobs: Record<"oversized" | "arm64", SimJob> = {} as never;

beforeAll(async () => {
  ({ world, images, send } = await startJobsWorld({
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
  }));
  jobs.oversized = send({
    name: "oversized",
    image: images.debian.name,
    variables: { SGR_CPU: "4", SGR_MEMORY: "8Gi" },
    script: ["echo sized-job-ran"],
  });
  jobs.arm64 = send({
    name: "arm64",
    image: images.debian.name,
    variables: { SGR_ARCH: "arm64" },
    script: ["echo never"],
  });
  await Promise.all(Object.values(jobs).map((job) => world!.waitForJob(job, 600_000)));
}, WORLD_START_TIMEOUT_MS);

afterAll(() => endWorld(world), WORLD_STOP_TIMEOUT_MS);

describe("per-job size and architecture", () => {
  it("a size above the maximum is clamped, with a warning in the log, and the task gets the maximum", async () => {
    const job = jobs.oversized;
    const trace = traceOf(world!, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toMatch(/WARNING: SGR_CPU=4 is above this runner's maximum/);
    expect(trace).toMatch(/WARNING: SGR_MEMORY=8Gi is above this runner's maximum/);
    expect(trace).toContain("sized-job-ran");
    const [task] = jobTasksOf(world!, job);
    expect([task?.task.cpu, task?.task.memory]).toEqual(["1024", "2048"]);
    await expectJobTasksStopped(world!, job);
  });

  it("arm64 where no arm64 image exists: a system failure naming the pull error", async () => {
    const job = jobs.arm64;
    const trace = traceOf(world!, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("runner_system_failure");
    expect(trace).toMatch(/CannotPullContainerError|arm64/);
    expect(trace).not.toMatch(/^never$/m);
    for (const t of jobTasksOf(world!, job)) expect(t.task.lastStatus, t.task.taskArn).toBe("STOPPED");
  });
});
