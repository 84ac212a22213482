/**
 * The wake, scale-up's side: a pending job whose runner configuration already has a manager is recorded for that
 * manager (src/state/pending-wake.ts), which restarts its idle runner's job polling at once (src/manager/wake.ts).
 * A started or starting manager needs nothing: gitlab-runner asks for a job as soon as it starts.
 */
import { recordPendingJob } from "../state/pending-wake.js";
import type { ControlPlaneDeps } from "./deps.js";

/** Records the job for the running manager; a failure is logged, never fatal: the runner still polls. */
export async function wakeRunningManager(
  deps: ControlPlaneDeps,
  outcome: { action: string; runner?: string },
  job: { projectId: number; jobId: number },
): Promise<void> {
  if (outcome.action !== "already-running" || !outcome.runner) return;
  const runner = deps.config.runners.find((r) => r.name === outcome.runner);
  if (!runner?.wake.enabled) return;
  try {
    const store = { db: deps.db, tableName: deps.resources.stateTableName };
    await recordPendingJob(store, runner.name, job, deps.now());
  } catch (err) {
    deps.logger.warn("could not record the pending job for the running manager; it polls as usual", {
      runner: runner.name,
      error: (err as Error).message,
    });
  }
}
