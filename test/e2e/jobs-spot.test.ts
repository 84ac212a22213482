/**
 * End to end, Fargate Spot: with no Spot capacity, both the manager and the job task start on on-demand instead;
 * a Spot interruption of a job task fails the job as a system failure with the reason in its log (what GitLab's
 * `retry: when: runner_system_failure` matches; the retried job runs on a new task); a Spot interruption of the
 * manager drains it (docs/limitations.md), frees its slot, and the next job gets a new manager.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobImages } from "../../scripts/images/job-images.js";
import type { JobDefinition } from "../support/gitlab-sim.js";
import {
  endWorld,
  expectJobTasksStopped,
  type JobsWorld,
  jobTasksOf,
  startJobsWorld,
  stopManagers,
  traceOf,
  WORLD_START_TIMEOUT_MS,
  WORLD_STOP_TIMEOUT_MS,
  waitForTrace,
} from "./jobs-support.js";
import type { World } from "./world/world.js";

let world: World | undefined;
let images: JobImages;
let send: JobsWorld["send"];

/** Each case starts tasks (and a manager) and waits for jobs: minutes on two cores. */
const CASE_TIMEOUT_MS = 15 * 60_000;
const SIZE = { cpu: 256, memoryMiB: 512, ephemeralStorageGiB: 21 };

beforeAll(async () => {
  ({ world, images, send } = await startJobsWorld({
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
  }));
}, WORLD_START_TIMEOUT_MS);

afterAll(() => endWorld(world), WORLD_STOP_TIMEOUT_MS);

describe("Fargate Spot", () => {
  it(
    "no Spot capacity: the manager and the job task start on on-demand, and the job says so",
    async () => {
      world!.fargate.faults.spotCapacityUnavailable(Number.POSITIVE_INFINITY);
      try {
        const job = send({ name: "no-spot", image: images.debian.name, script: ["echo on-demand-ran"] });
        await world!.waitForJob(job, 600_000);
        const trace = traceOf(world!, job);
        expect(job.final?.state, trace).toBe("success");
        expect(trace).toContain("on-demand-ran");
        expect(trace).toMatch(/Spot.*on-demand|on-demand.*Spot/i);
        expect(world!.managers().map((m) => m.task.capacityProviderName)).toEqual(["FARGATE"]);
        expect(jobTasksOf(world!, job).map((t) => t.task.capacityProviderName)).toEqual(["FARGATE"]);
        await expectJobTasksStopped(world!, job);
      } finally {
        world!.fargate.faults.reset();
      }
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "a Spot interruption of a job task: a system failure with the reason in the log; the retry succeeds",
    async () => {
      const definition: JobDefinition = {
        name: "spot-job",
        image: images.debian.name,
        script: ["echo waiting-for-interruption", "sleep 600"],
      };
      const job = send(definition);
      await waitForTrace(world!, job, "waiting-for-interruption");
      const [task] = jobTasksOf(world!, job);
      expect(task?.task.capacityProviderName).toBe("FARGATE_SPOT");
      world!.fargate.faults.interruptSpot(task!.task.taskArn!);
      await world!.waitForJob(job, 300_000);
      const trace = traceOf(world!, job);
      expect(job.final?.state, trace).toBe("failed");
      expect(job.final?.failureReason, trace).toBe("runner_system_failure");
      expect(trace).toMatch(/Spot interruption/);
      const stopped = await world!.fargate.waitFor(task!.task.taskArn!, "STOPPED");
      expect(stopped.task.stopCode).toBe("SpotInterruption");

      // GitLab's retry (when: runner_system_failure) queues the job again; it runs on a new task.
      const retry = send({ ...definition, script: ["echo retried"] });
      await world!.waitForJob(retry, 600_000);
      expect(retry.final?.state, traceOf(world!, retry)).toBe("success");
      await expectJobTasksStopped(world!, retry);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "a Spot interruption of the manager: it drains and stops, its slot is freed, the next job gets a new manager",
    async () => {
      const [manager, ...others] = world!.managers().filter((m) => m.task.lastStatus !== "STOPPED");
      expect(others).toEqual([]);
      expect(manager?.task.capacityProviderName).toBe("FARGATE");
      // The first manager started on on-demand (no Spot then); the next one is on Spot: interrupt that one.
      world!.fargate.faults.reset();
      await stopManagers(world!);

      const warm = send({
        name: "on-spot-manager",
        image: images.debian.name,
        script: ["echo spot-manager-ran"],
      });
      await world!.waitForJob(warm, 600_000);
      expect(warm.final?.state, traceOf(world!, warm)).toBe("success");
      const spotManager = world!.managers().find((m) => m.task.lastStatus !== "STOPPED");
      expect(spotManager?.task.capacityProviderName).toBe("FARGATE_SPOT");

      world!.fargate.faults.interruptSpot(spotManager!.task.taskArn!);
      const stopped = await world!.fargate.waitFor(spotManager!.task.taskArn!, "STOPPED", 150_000);
      expect(stopped.task.stopCode).toBe("SpotInterruption");
      expect(stopped.task.containers?.[0]?.exitCode, "the manager drained and exited cleanly").toBe(0);

      const next = send({ name: "after-interruption", image: images.debian.name, script: ["echo next-ran"] });
      await world!.waitForJob(next, 600_000);
      expect(next.final?.state, traceOf(world!, next)).toBe("success");
      const running = world!.managers().filter((m) => m.task.lastStatus !== "STOPPED");
      expect(running.map((m) => m.task.taskArn)).not.toContain(spotManager!.task.taskArn);
      expect(running).toHaveLength(1);
    },
    CASE_TIMEOUT_MS,
  );
});
