/** What the end-to-end tests read about a job: its task, its trace, and the events GitLab's hooks produced. */
import { JOB_TASK_TAGS } from "../../../src/driver/backends/fargate/backend.js";
import type { SimJob } from "../../support/gitlab-sim.js";

export { plainTrace } from "../../driver/e2e-support.js";

import type { TaskRecord } from "../../support/local-fargate/index.js";
import type { World } from "./world.js";

/** The job tasks the driver started for `job` (tagged with its job id), in start order. */
export const jobTasksOf = (world: World, job: SimJob): TaskRecord[] =>
  world
    .jobTasks()
    .filter((t) =>
      t.task.tags?.some((tag) => tag.key === JOB_TASK_TAGS.jobId && tag.value === String(job.id)),
    );

/** The job task that ran the job: the last one started for it (an earlier one may have been replaced). */
export function jobTaskOf(world: World, job: SimJob): TaskRecord | undefined {
  return jobTasksOf(world, job).at(-1);
}

/** Waits until the job's task is STOPPED (the driver stops it in the job's cleanup, after the final update). */
export async function jobTaskStopped(world: World, job: SimJob, timeoutMs = 60_000): Promise<TaskRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = jobTaskOf(world, job);
    if (task) return world.fargate.waitFor(task.task.taskArn!, "STOPPED", Math.max(1, deadline - Date.now()));
    if (Date.now() > deadline) throw new Error(`job ${job.id} never got a task`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `check` holds (polling), or throws `what` after the timeout. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} (after ${timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
