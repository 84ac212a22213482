/**
 * The wake, the manager's side: reads the jobs scale-up recorded as pending for this runner configuration
 * (src/state/pending-wake.ts) and starts a new runner generation so the job is asked for at once rather than after
 * `check_interval` (generations.ts). A runner that already runs jobs is woken too: its new generation may run only
 * the jobs left of `concurrent`. Not woken: a manager that runs `concurrent` jobs (the job waits for a free place
 * anyway); one whose runner took a job within the last `TAKING_WINDOW_MS` (it asks again right after each job it
 * receives, and a job it holds may not be counted yet); one with `MAX_RETIRING_GENERATIONS` older generations still
 * finishing (each is a gitlab-runner process).
 */
import type { JobLoad } from "../state/manager-record.js";
import type { SupervisorLogger } from "./runner-child.js";

export interface PendingJobSource {
  /** Milliseconds between reads (config `wake.pollMs`). */
  pollMs: number;
  read(): Promise<string[]>;
  forget(jobs: string[]): Promise<void>;
  /** The jobs this manager holds (the driver records each at the start of its preparation). */
  jobLoad(): Promise<JobLoad>;
}

export interface WakeTarget {
  /** The jobs the manager may run at once (config `concurrent`). */
  concurrent: number;
  /** Whether a new generation may start now: not draining, fewer than MAX_RETIRING_GENERATIONS still finishing. */
  mayWake(): boolean;
  /** Starts the new generation, allowed `concurrent` jobs; false when the runner has already exited. */
  wake(concurrent: number): boolean;
}

/** Older generations a manager lets finish their jobs at once; beyond them, pending jobs wait for `check_interval`. */
export const MAX_RETIRING_GENERATIONS = 3;
/** A runner that took a job this recently is taking jobs: it asks again by itself. */
export const TAKING_WINDOW_MS = 1_500;

export type WakeOutcome = "nothing pending" | "primed" | "woken" | "full" | "taking" | "not now";

/**
 * One read per call. The first call only forgets what is pending: gitlab-runner has just started and asks at once.
 */
export function pendingJobWatcher(
  source: PendingJobSource,
  target: WakeTarget,
  logger: SupervisorLogger,
  now: () => number = Date.now,
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
    const { running, lastJobStartedAt } = await source.jobLoad();
    const room = target.concurrent - running;
    if (room <= 0) {
      logger.info("jobs pending while the manager runs all it may: they wait for a free place", {
        jobs,
        running,
      });
      return "full";
    }
    if (lastJobStartedAt !== undefined && now() - lastJobStartedAt < TAKING_WINDOW_MS) return "taking";
    if (!target.wake(room)) return "not now";
    logger.info("woke gitlab-runner for pending jobs: a new runner generation asks at once", {
      jobs,
      running,
      concurrent: room,
    });
    return "woken";
  };
}
