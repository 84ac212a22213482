/**
 * The whole product, end to end, in real containers (test/e2e/world): GitLab's Job Hooks reach the webhook's
 * Function URL, its events reach scale-up through the template's rules, scale-up starts the template's manager task,
 * the manager's gitlab-runner takes jobs from the coordinator simulator and runs each in its own job task (helper +
 * `image:`), which clones over HTTP and runs the script; the scheduler drains the idle manager, which exits, also when
 * a job is handed out as the drain lands. Every test asserts the trace, the final state and what is left running. One
 * world, in order: each step starts from the state the previous one left (a manager running, then idle).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ManagerItem, runningJobIdsOf } from "../../src/state/table.js";
import type { SimJob } from "../support/gitlab-sim.js";
import { assertNothingLeftRunning } from "../support/local-fargate/index.js";
import { eventually, jobTaskOf, jobTaskStopped, plainTrace } from "./world/jobs.js";
import { startWorld, type World } from "./world/world.js";

let world: World;

/** The world's idleTimeoutSeconds. */
const IDLE_TIMEOUT_MS = 60_000;
/** How often the managers heartbeat; they learn a drain request from the heartbeat's answer. */
const HEARTBEAT_MS = 40_000;

beforeAll(async () => {
  world = await startWorld({
    // The managers read their drain request at their heartbeat only (their own poll is an hour away), so the
    // moment a manager learns of a drain is observable: its next heartbeatAt in the record.
    containerEnvironment: { SGR_DRAIN_POLL_MS: "3600000", SGR_HEARTBEAT_MS: String(HEARTBEAT_MS) },
  });
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

async function recordOf(taskArn: string): Promise<ManagerItem> {
  const record = (await world.managerRecords()).find((r) => r.taskArn === taskArn);
  if (!record) throw new Error(`no record for manager ${taskArn}`);
  return record;
}

/** Waits for the manager's next heartbeat after `after` (default: the one in its record now); returns its time. */
async function nextHeartbeat(taskArn: string, after?: number): Promise<number> {
  const since = after ?? (await recordOf(taskArn)).heartbeatAt ?? 0;
  const deadline = Date.now() + 3 * HEARTBEAT_MS;
  for (;;) {
    const beat = (await recordOf(taskArn)).heartbeatAt ?? 0;
    if (beat > since) return beat;
    if (Date.now() > deadline) throw new Error(`manager ${taskArn} did not heartbeat after ${since}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Waits for the first heartbeat at which the manager has been idle for the idle timeout (no job started since, none
 * running), so the scheduler's next period drains it; returns that heartbeat's time.
 */
async function idleHeartbeat(taskArn: string): Promise<number> {
  let beat: number | undefined;
  for (;;) {
    beat = await nextHeartbeat(taskArn, beat);
    const record = await recordOf(taskArn);
    const lastActivity = Math.max(record.startedAt, record.lastJobStartedAt ?? 0);
    if (runningJobIdsOf(record).length === 0 && beat - lastActivity > IDLE_TIMEOUT_MS) return beat;
  }
}

/** The drained manager's gitlab-runner exited 0, its task is STOPPED and its record says so. */
async function expectManagerExited(taskArn: string): Promise<void> {
  const stopped = await world.fargate.waitFor(taskArn, "STOPPED", 150_000);
  expect(stopped.task.containers?.[0]?.exitCode).toBe(0);
  expect(await recordOf(taskArn)).toMatchObject({
    state: "STOPPED",
    drainReason: "idle",
    stopReason: "gitlab-runner exited with code 0",
  });
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

  it("idle stop: the scheduler drains the idle manager, which exits 0; its record ends STOPPED and nothing is left running", async () => {
    await idleHeartbeat(manager);
    expect(await tick()).toEqual([{ taskArn: manager, decision: "drained-idle" }]);
    await expectManagerExited(manager);
    // The scheduler has no live manager left to review; the slot was freed with the drain.
    expect(await tick()).toEqual([]);
    await world.assertNothingLeftRunning();
  }, 300_000);

  it("drain race: a job handed out after the scheduler told the idle manager to drain, before the manager saw it, still succeeds; then the manager exits", async () => {
    // The slot was freed by the idle stop: the next job starts a new manager.
    const first = await runJob("after-idle-stop", ["echo after-idle-stop-done"]);
    const racer = world.managers().find((m) => m.task.taskArn !== manager)!.task.taskArn!;
    expect(jobTaskOf(world, first)?.task.startedBy).toBe(racer.split("/").pop());

    // The manager learns a drain at its heartbeat (its own drain poll is an hour here): right after one, it will not
    // look again for a heartbeat period. The job is pending (its hooks went out, scale-up found this manager) but
    // GitLab hands it out only when released, so it reaches a manager that is already DRAINING in the table.
    const beat = await idleHeartbeat(racer);
    const job = world.sendJob(
      { name: "drain-race", script: ["sleep 3", "echo drain-race-done"], image: DEBIAN },
      { held: true },
    );
    await eventually(() => pendingScaleUps(job.id).some((i) => i.attempts.length > 0), "scale-up never ran");
    await world.routing.idle();
    expect(await tick()).toEqual([{ taskArn: racer, decision: "drained-idle" }]);
    const drainedAt = Date.now();
    world.sim.release(job);
    await eventually(() => job.assignedAt !== undefined, "the draining manager never took the job", 20_000);
    const sawDrainAt = await nextHeartbeat(racer, beat);
    expect(job.assignedAt!).toBeGreaterThanOrEqual(drainedAt);
    expect(job.assignedAt!, "the manager saw the drain before the job was handed out").toBeLessThan(
      sawDrainAt,
    );

    await world.waitForJob(job);
    const trace = plainTrace(world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toContain("drain-race-done");
    expect(jobTaskOf(world, job)?.task.startedBy).toBe(racer.split("/").pop());
    await jobTaskStopped(world, job);
    await expectManagerExited(racer);
    expect(world.managers()).toHaveLength(2);
    expect(await tick()).toEqual([]);
    await world.assertNothingLeftRunning();
  }, 400_000);
});
