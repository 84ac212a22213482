/** What the end-to-end tests read about a job: its task, its trace, and the events GitLab's hooks produced. */
import type { SimJob } from "../../support/gitlab-sim.js";

export { plainTrace } from "../../driver/e2e-support.js";

import type { TaskRecord } from "../../support/local-fargate/index.js";
import type { World } from "./world.js";

/** The job task the driver started for a job (tagged `sgr:job-id`). */
export function jobTaskOf(world: World, job: SimJob): TaskRecord | undefined {
  return world
    .jobTasks()
    .findLast((t) => t.task.tags?.some((tag) => tag.key === "sgr:job-id" && tag.value === String(job.id)));
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
