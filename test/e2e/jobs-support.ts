/**
 * What the end-to-end job files share: a world whose jobs can name the job images, and its end — every manager
 * stopped as ECS stops a task (StopTask: SIGTERM, the manager drains), then nothing left running.
 */
import { afterAll, beforeAll, expect } from "vitest";
import { ensureJobImages, type JobImages } from "../../scripts/images/job-images.js";
import { serveGitRepo } from "../support/git-repo.js";
import type { JobDefinition, SimJob } from "../support/gitlab-sim.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

import { startWorld, type World, type WorldOptions } from "./world/world.js";

/** Building the job images cold and starting a world take minutes on two cores. */
export const WORLD_START_TIMEOUT_MS = 20 * 60_000;
const WORLD_STOP_TIMEOUT_MS = 4 * 60_000;

export interface JobsWorld {
  world: World;
  images: JobImages;
  /** Queues a job that clones the project's repository (served over smart HTTP); `held`: pending, not handed out. */
  send(definition: JobDefinition, options?: { held?: boolean }): SimJob;
}

async function startJobsWorld(options: WorldOptions = {}): Promise<JobsWorld> {
  const images = await ensureJobImages();
  const repo = await serveGitRepo({ "README.md": "The project the end-to-end jobs build.\n" });
  try {
    const world = await startWorld(options);
    const stopWorld = world.stop;
    world.stop = async () => {
      await stopWorld();
      await repo.close();
    };
    const git = { repoUrl: repo.url, sha: repo.sha, ref: repo.ref };
    return { world, images, send: (definition, options) => world.sendJob({ git, ...definition }, options) };
  } catch (error) {
    await repo.close();
    throw error;
  }
}

/**
 * The world of one jobs file: started before its tests (the file's own beforeAll hooks, registered after this call,
 * run once it is up) and ended after them (endWorld). Its fields can be read from then on.
 */
export function useJobsWorld(options: WorldOptions = {}): JobsWorld {
  let started: JobsWorld | undefined;
  const current = () => {
    if (!started) throw new Error("the jobs world is not started: read it in hooks and tests, not at load");
    return started;
  };
  beforeAll(async () => {
    started = await startJobsWorld(options);
  }, WORLD_START_TIMEOUT_MS);
  afterAll(() => endWorld(started?.world), WORLD_STOP_TIMEOUT_MS);
  return {
    get world() {
      return current().world;
    },
    get images() {
      return current().images;
    },
    // Every argument forwarded: a dropped `held` would hand the job out at once.
    send: (...args) => current().send(...args),
  };
}

/** The end of a world: managers stopped, every task STOPPED, no container, pod, volume or process left. */
async function endWorld(world: World | undefined): Promise<void> {
  if (!world) return;
  try {
    await world.stopManagers("end of the test");
    // A task is STOPPED once its containers have left (up to their stopTimeout): let every stop complete.
    for (const t of world.tasks()) await world.fargate.waitFor(t.task.taskArn!, "STOPPED", 150_000);
    await world.assertNothingLeftRunning();
  } finally {
    await world.stop();
  }
}

/** `job` ran at least one task, and every one of them stops (the driver stops it after the final update). */
export async function expectJobTasksStopped(world: World, job: SimJob): Promise<void> {
  const tasks = jobTasksOf(world, job);
  expect(tasks.length, `job ${job.id} ran no task`).toBeGreaterThan(0);
  for (const t of tasks) {
    const stopped = await world.fargate.waitFor(t.task.taskArn!, "STOPPED", 60_000);
    expect(stopped.task.lastStatus, t.task.taskArn).toBe("STOPPED");
  }
}

/** Waits until the job's trace shows `text`; on a timeout the error carries the trace and the job's tasks. */
export async function waitForTrace(
  world: World,
  job: SimJob,
  text: string,
  timeoutMs = 600_000,
): Promise<void> {
  try {
    await world.sim.waitForTrace(job, text, timeoutMs);
  } catch (error) {
    const tasks = jobTasksOf(world, job).map((t) => `${t.task.taskArn} ${t.task.lastStatus}`);
    throw new Error(
      `${(error as Error).message}; status ${job.status}; tasks: ${tasks.join(", ") || "none"}; trace:\n${plainTrace(world, job)}`,
    );
  }
}
