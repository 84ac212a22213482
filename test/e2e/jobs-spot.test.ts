/**
 * End to end, Fargate Spot: with no Spot capacity, both the manager and the job task start on on-demand instead;
 * a Spot interruption of a job task fails the job as a system failure with the reason in its log (what GitLab's
 * `retry: when: runner_system_failure` matches; the retried job runs on a new task); a Spot interruption of the
 * manager drains it (docs/limitations.md), frees its slot, and the next job gets a new manager.
 */
import { describe, expect, it } from "vitest";
import type { JobDefinition } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, waitForTrace } from "./jobs-support.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

/** Each case starts tasks (and a manager) and waits for jobs: minutes on two cores. */
const CASE_TIMEOUT_MS = 15 * 60_000;
const SIZE = { cpu: 256, memoryMiB: 512, ephemeralStorageGiB: 21 };

const jobsWorld = useJobsWorld({
  runner: {
    manager: { cpu: 512, memoryMiB: 1024, capacity: "FARGATE_SPOT", architecture: "x86_64" },
    jobs: {
      defaultImage: "debian:bookworm-slim",
      defaultSize: SIZE,
      capacity: "FARGATE_SPOT",
      architectures: ["x86_64"],
      defaultArchitecture: "x86_64",
    },
  },
});

/** Runs a one-line job on Debian and expects it to succeed. */
async function succeeds(name: string): Promise<void> {
  const job = jobsWorld.send({ name, image: jobsWorld.images.debian.name, script: [`echo ${name}-ran`] });
  await jobsWorld.world.waitForJob(job, 600_000);
  expect(job.final?.state, plainTrace(jobsWorld.world, job)).toBe("success");
}

describe("Fargate Spot", () => {
  it(
    "no Spot capacity: the manager and the job task start on on-demand, and the job says so",
    async () => {
      jobsWorld.world.fargate.faults.spotCapacityUnavailable(Number.POSITIVE_INFINITY);
      try {
        const job = jobsWorld.send({
          name: "no-spot",
          image: jobsWorld.images.debian.name,
          script: ["echo on-demand-ran"],
        });
        await jobsWorld.world.waitForJob(job, 600_000);
        const trace = plainTrace(jobsWorld.world, job);
        expect(job.final?.state, trace).toBe("success");
        expect(trace).toContain("on-demand-ran");
        expect(trace).toMatch(/Spot.*on-demand|on-demand.*Spot/i);
        expect(jobsWorld.world.managers().map((m) => m.task.capacityProviderName)).toEqual(["FARGATE"]);
        expect(jobTasksOf(jobsWorld.world, job).map((t) => t.task.capacityProviderName)).toEqual(["FARGATE"]);
        await expectJobTasksStopped(jobsWorld.world, job);
      } finally {
        jobsWorld.world.fargate.faults.reset();
      }
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "a Spot interruption of a job task: a system failure with the reason in the log; the retry succeeds",
    async () => {
      const definition: JobDefinition = {
        name: "spot-job",
        image: jobsWorld.images.debian.name,
        script: ["echo waiting-for-interruption", "sleep 600"],
      };
      const job = jobsWorld.send(definition);
      await waitForTrace(jobsWorld.world, job, "waiting-for-interruption");
      const [task] = jobTasksOf(jobsWorld.world, job);
      expect(task?.task.capacityProviderName).toBe("FARGATE_SPOT");
      jobsWorld.world.fargate.faults.interruptSpot(task!.task.taskArn!);
      await jobsWorld.world.waitForJob(job, 300_000);
      const trace = plainTrace(jobsWorld.world, job);
      expect(job.final?.state, trace).toBe("failed");
      expect(job.final?.failureReason, trace).toBe("runner_system_failure");
      expect(trace).toMatch(/Spot interruption/);
      const stopped = await jobsWorld.world.fargate.waitFor(task!.task.taskArn!, "STOPPED");
      expect(stopped.task.stopCode).toBe("SpotInterruption");

      // GitLab's retry (when: runner_system_failure) queues the job again; it runs on a new task.
      const retry = jobsWorld.send({ ...definition, script: ["echo retried"] });
      await jobsWorld.world.waitForJob(retry, 600_000);
      expect(retry.final?.state, plainTrace(jobsWorld.world, retry)).toBe("success");
      await expectJobTasksStopped(jobsWorld.world, retry);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "a Spot interruption of the manager: it drains and stops, its slot is freed, the next job gets a new manager",
    async () => {
      const [manager, ...others] = jobsWorld.world.managers().filter((m) => m.task.lastStatus !== "STOPPED");
      expect(others).toEqual([]);
      expect(manager?.task.capacityProviderName).toBe("FARGATE");
      // The first manager started on on-demand (no Spot then); the next one is on Spot: interrupt that one.
      jobsWorld.world.fargate.faults.reset();
      await jobsWorld.world.stopManagers("stopped by an operator");

      await succeeds("on-spot-manager");
      const spotManager = jobsWorld.world.managers().find((m) => m.task.lastStatus !== "STOPPED");
      expect(spotManager?.task.capacityProviderName).toBe("FARGATE_SPOT");

      jobsWorld.world.fargate.faults.interruptSpot(spotManager!.task.taskArn!);
      const stopped = await jobsWorld.world.fargate.waitFor(spotManager!.task.taskArn!, "STOPPED", 150_000);
      expect(stopped.task.stopCode).toBe("SpotInterruption");
      expect(stopped.task.containers?.[0]?.exitCode, "the manager drained and exited cleanly").toBe(0);

      await succeeds("after-interruption");
      const running = jobsWorld.world.managers().filter((m) => m.task.lastStatus !== "STOPPED");
      expect(running.map((m) => m.task.taskArn)).not.toContain(spotManager!.task.taskArn);
      expect(running).toHaveLength(1);
    },
    CASE_TIMEOUT_MS,
  );
});
