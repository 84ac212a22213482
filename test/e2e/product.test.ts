/**
 * The whole product, end to end, in real containers (test/e2e/world): GitLab's Job Hooks reach the webhook's
 * Function URL, its events reach scale-up through the template's rules, scale-up starts the template's manager task,
 * the manager's gitlab-runner takes jobs from the coordinator simulator and runs each in its own job task (helper +
 * `image:`), which clones over HTTP and runs the script; a manager stopped through ECS drains and exits. Every test asserts
 * the trace, the final state and what is left running. One world, in order: each step starts from the state the
 * previous one left (a manager running, then idle).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimJob } from "../support/gitlab-sim.js";
import { assertNothingLeftRunning } from "../support/local-fargate/index.js";
import { stopManagers } from "./jobs-support.js";
import { jobTaskOf, jobTaskStopped, plainTrace } from "./world/jobs.js";
import { startWorld, type World } from "./world/world.js";

let world: World;

beforeAll(async () => {
  world = await startWorld();
}, 600_000);

afterAll(async () => {
  await world?.stop();
  // Stopped, the local Fargate has no process of its own left either.
  if (world) await assertNothingLeftRunning(world.fargate.instance);
}, 120_000);

const DEBIAN = "debian:bookworm-slim";

interface SchedulerAnswer {
  reviews?: { runner: string; decisions: { taskArn: string; decision: string }[] }[];
}

async function tick(): Promise<{ taskArn: string; decision: string }[]> {
  const { payload, functionError } = await world.tick();
  expect(functionError, JSON.stringify(payload)).toBeUndefined();
  return ((payload as SchedulerAnswer).reviews ?? []).flatMap((r) => r.decisions);
}

/** Runs a job through the product; asserts its trace, its final state and that its task is stopped. */
async function runJob(name: string, script: string[]): Promise<SimJob> {
  const job = world.sendJob({ name, script, image: DEBIAN });
  await world.waitForJob(job);
  const trace = plainTrace(world, job);
  expect(job.final?.state, trace).toBe("success");
  expect(trace).toContain(`Fetching changes with git depth set to 20`);
  expect(trace).toContain("Job succeeded");
  const task = await jobTaskStopped(world, job);
  // Stopped by the driver's cleanup; the helper exits by itself once its results are collected (137 would mean
  // ECS had to kill it at the stop timeout, holding the task that long).
  expect(task.task.stopCode).toBe("UserInitiated");
  expect(task.task.containers?.find((c) => c.name === "helper")?.exitCode).toBe(0);
  return job;
}

function pendingScaleUps(jobId: number) {
  return world.routing.invocations.filter(
    (i) => i.function === world.lambdas["scale-up"].name && i.detail.jobId === jobId,
  );
}

describe("the product end to end, in real containers", () => {
  let manager: string;

  it("cold path: a pending Job Hook starts a manager, which runs the job in its own task and reports success", async () => {
    const job = await runJob("cold", ["cat README.md", "echo cold-path-done on $(uname -m)"]);
    const trace = plainTrace(world, job);
    expect(trace).toContain("The project the end-to-end jobs build.");
    expect(trace).toMatch(/cold-path-done on x86_64/);
    expect(trace).toMatch(/Starting job task for image debian:bookworm-slim .* on the fargate backend/);

    // GitLab's hooks were all accepted, and the pending one went through scale-up without an error.
    expect(
      world.hooks.deliveries.filter((d) => d.jobId === job.id).map((d) => [d.status, d.httpStatus]),
    ).toEqual([
      ["created", 202],
      ["pending", 202],
      ["running", 202],
      ["success", 202],
    ]);
    await world.routing.idle();
    const scaleUps = pendingScaleUps(job.id);
    expect(scaleUps).toHaveLength(1);
    expect(scaleUps[0]!.failed).toBe(false);
    expect(scaleUps[0]!.attempts.map((a) => a.functionError)).toEqual([undefined]);

    // One manager, from the template's task definition, still running for the next job.
    const managers = world.managers();
    expect(managers).toHaveLength(1);
    expect(managers[0]!.task.lastStatus).toBe("RUNNING");
    manager = managers[0]!.task.taskArn!;
    const jobTask = jobTaskOf(world, job)!;
    expect(jobTask.task.containers?.map((c) => c.name).sort()).toEqual(["build", "helper"]);
    expect(jobTask.task.lastStatus).toBe("STOPPED");
  });

  it("warm path: a job queued while the manager runs is taken by it, without starting another", async () => {
    const job = await runJob("warm", ["echo warm-path-done"]);
    expect(plainTrace(world, job)).toContain("warm-path-done");
    await world.routing.idle();
    expect(pendingScaleUps(job.id).map((i) => i.failed)).toEqual([false]);
    expect(world.managers().map((m) => m.task.taskArn)).toEqual([manager]);
  });

  it("20 jobs queued at once on one runner configuration: one manager, all green, every job task stopped", async () => {
    const jobs = Array.from({ length: 20 }, (_, i) =>
      world.sendJob({ name: `burst-${i}`, script: [`echo burst-job-${i}-done`], image: DEBIAN }),
    );
    await Promise.all(jobs.map((job) => world.waitForJob(job, 300_000)));
    for (const [i, job] of jobs.entries()) {
      expect(job.final?.state, plainTrace(world, job)).toBe("success");
      expect(plainTrace(world, job)).toContain(`burst-job-${i}-done`);
    }
    await Promise.all(jobs.map((job) => jobTaskStopped(world, job)));
    await world.routing.idle();
    expect(jobs.flatMap((job) => pendingScaleUps(job.id)).filter((i) => i.failed)).toEqual([]);
    expect(world.managers().map((m) => m.task.taskArn)).toEqual([manager]);
    expect(new Set(jobs.map((job) => jobTaskOf(world, job)?.task.taskArn)).size).toBe(20);
    expect(world.jobTasks().filter((t) => t.task.lastStatus !== "STOPPED")).toEqual([]);
  }, 400_000);

  it("a manager stopped through ECS drains, exits 0 and is recorded stopped; the scheduler then finds nothing to do, and nothing is left running", async () => {
    // StopTask, as a deployment or an operator does: SIGTERM makes the manager drain its runner. (The scheduler's
    // idle drain, and a job handed out while it lands, are proven with the real runner in test/manager/.)
    await stopManagers(world);
    const stopped = await world.fargate.waitFor(manager, "STOPPED", 150_000);
    expect(stopped.task.containers?.[0]?.exitCode).toBe(0);
    const records = await world.managerRecords();
    expect(records.map((r) => [r.taskArn, r.state])).toEqual([[manager, "STOPPED"]]);
    expect(await tick()).toEqual([]);
    expect(world.managers()).toHaveLength(1);
    await world.assertNothingLeftRunning();
  }, 300_000);
});
