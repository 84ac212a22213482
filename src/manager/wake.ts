/**
 * The wake, the manager's side: reads the jobs scale-up recorded as pending for this runner configuration
 * (src/state/pending-wake.ts) and, when gitlab-runner runs no job, starts a new runner generation so the job is
 * asked for at once rather than after `check_interval` (generations.ts). A busy runner is left alone: it asks again
 * right after each job it receives, and otherwise at its check interval; a wake then would run jobs beyond
 * `concurrent` in the retiring generation.
 */
import type { SupervisorLogger } from "./runner-child.js";

export interface PendingJobSource {
  /** Milliseconds between reads (config `wake.pollMs`). */
  pollMs: number;
  read(): Promise<string[]>;
  forget(jobs: string[]): Promise<void>;
  /** Jobs running on this manager (the driver's count on its record). */
  runningJobs(): Promise<number>;
}

export interface WakeTarget {
  /** Whether a new generation may start now: not draining, no earlier one still finishing. */
  mayWake(): boolean;
  /** Starts the new generation; false when the runner has already exited. */
  wake(): boolean;
}

export type WakeOutcome = "nothing pending" | "primed" | "woken" | "busy" | "not now";

/**
 * One read per call. The first call only forgets what is pending: gitlab-runner has just started and asks at once.
 */
export function pendingJobWatcher(
  source: PendingJobSource,
  target: WakeTarget,
  logger: SupervisorLogger,
): () => Promise<WakeOutcome> {
  let primed = false;
  return async () => {
    const jobs = await source.read();
    if (jobs.length === 0) {
      primed = true;
      return "nothing pending";
    }
    await source.forget(jobs);
    if (!primed) {
      primed = true;
      return "primed";
    }
    if (!target.mayWake()) return "not now";
    const running = await source.runningJobs();
    if (running > 0) {
      logger.info("jobs pending while gitlab-runner runs jobs: it asks at its next request", {
        jobs,
        running,
      });
      return "busy";
    }
    if (!target.wake()) return "not now";
    logger.info("woke gitlab-runner for pending jobs: a new runner generation asks at once", { jobs });
    return "woken";
  };
}
