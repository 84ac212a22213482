/**
 * Runs gitlab-runner and decides when it drains. Drain always means SIGQUIT: gitlab-runner then requests no new
 * job, finishes the ones it has (including one assigned a moment before) and exits. SIGTERM/SIGINT would abort
 * running jobs, so they are never passed on: ECS's SIGTERM (StopTask, Spot reclaim) becomes SIGQUIT too.
 *
 * Drain triggers: a signal to the manager, or the manager's record turning DRAINING/STOPPED in the state table
 * (the scheduler's idle stop). State-table trouble is logged and retried, never a reason to stop the runner.
 * With a wake source, a pending job starts a new gitlab-runner generation (wake.ts, generations.ts); the manager's
 * exit code is the last generation's.
 */
import { constants } from "node:os";
import type { RecordState } from "../state/manager-record.js";
import { RunnerGenerations } from "./generations.js";
import type { ChildExit, RunnerChild, SupervisorLogger } from "./runner-child.js";
import { MAX_RETIRING_GENERATIONS, type PendingJobSource, pendingJobWatcher } from "./wake.js";

export type { ChildExit, RunnerChild, SupervisorLogger };

/** The manager's record, bound to this task (src/state/manager-record.ts). */
export interface ManagerRecord {
  markRunning(nowMs: number): Promise<RecordState>;
  readState(): Promise<RecordState>;
  heartbeat(nowMs: number): Promise<RecordState>;
  markSelfDraining(reason: string, nowMs: number): Promise<boolean>;
  markStopped(reason: string, nowMs: number): Promise<boolean>;
}

export interface SignalSource {
  on(event: NodeJS.Signals, listener: (sig: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (sig: NodeJS.Signals) => void): unknown;
}

export interface SuperviseOptions {
  /** Starts gitlab-runner allowed `concurrent` jobs (generations.ts). */
  startRunner(concurrent: number): RunnerChild;
  /** The runner configuration's `concurrent`. */
  concurrent: number;
  record: ManagerRecord;
  signals: SignalSource;
  drainPollMs: number;
  heartbeatMs: number;
  logger: SupervisorLogger;
  now?: () => number;
  /** Pending jobs that wake gitlab-runner (wake.ts); without it the runner polls at its check interval. */
  wake?: PendingJobSource;
}

/** Signals that mean "stop": all become a graceful drain. */
export const DRAIN_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGQUIT"];

const wantsDrain = (state: RecordState) => state === "DRAINING" || state === "STOPPED";

/** Shell convention for a process killed by a signal. */
export function exitCodeOf(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  const number = exit.signal ? constants.signals[exit.signal] : undefined;
  return number ? 128 + number : 1;
}

function describeExit(exit: ChildExit): string {
  return exit.code !== null
    ? `gitlab-runner exited with code ${exit.code}`
    : `gitlab-runner killed by ${exit.signal}`;
}

/** Runs gitlab-runner until it exits; resolves with the exit code the manager should exit with. */
export async function superviseRunner(options: SuperviseOptions): Promise<number> {
  const { record, logger } = options;
  const now = options.now ?? Date.now;
  const initial = await markRunningAtStart(options, now);
  if (initial !== "UNKNOWN" && wantsDrain(initial)) {
    // Drained before gitlab-runner ever asked for a job: nothing to finish, so do not start it.
    logger.info("drain requested before gitlab-runner started; not starting it", { state: initial });
    await record.markStopped("drained before start", now()).catch((err) => {
      logger.warn("could not mark the manager record STOPPED", { error: errorText(err) });
    });
    return 0;
  }
  if (initial === "MISSING") logger.warn("manager record not found yet; will retry (scale-up writes it)");

  const child = new RunnerGenerations(options.startRunner, options.concurrent);
  let registered = initial === "RUNNING";
  let draining = false;

  const drain = (reason: string) => {
    if (draining) {
      logger.info("already draining", { reason });
      return;
    }
    draining = true;
    logger.info("draining: SIGQUIT to gitlab-runner (no new jobs, running jobs finish)", { reason });
    child.signal("SIGQUIT");
  };

  // Writes still in flight when gitlab-runner exits finish before STOPPED is written, so STOPPED is the last word.
  let selfDrainWrite: Promise<void> = Promise.resolve();
  let tableCall: Promise<void> = Promise.resolve();

  const onSignal = (sig: NodeJS.Signals) => {
    const first = !draining;
    drain(`received ${sig}`);
    if (!first) return;
    selfDrainWrite = record.markSelfDraining(`received ${sig}`, now()).then(
      (slotFreed) => logger.info("manager record DRAINING", { slotFreed }),
      (err) => logger.warn("could not mark the manager record DRAINING", { error: errorText(err) }),
    );
  };
  for (const sig of DRAIN_SIGNALS) options.signals.on(sig, onSignal);

  // One state-table call at a time: a slow DynamoDB answer must not pile up requests.
  let busy = false;
  const guarded = (what: string, task: () => Promise<void>) => () => {
    if (busy) return;
    busy = true;
    tableCall = task()
      .catch((err: unknown) =>
        logger.warn(`state table ${what} failed; will retry`, { error: errorText(err) }),
      )
      .finally(() => {
        busy = false;
      });
  };

  const poll = guarded("poll", async () => {
    const state = registered ? await record.readState() : await record.markRunning(now());
    // STARTING: scale-up wrote the record between markRunning's failed condition and its read; mark it next time.
    if (!registered && state !== "MISSING" && state !== "STARTING") {
      registered = true;
      logger.info("manager record found", { state });
    }
    if (wantsDrain(state)) drain(`state table says ${state}`);
  });
  const beat = guarded("heartbeat", async () => {
    if (!registered) return;
    const state = await record.heartbeat(now());
    if (wantsDrain(state)) drain(`state table says ${state}`);
  });
  const pollTimer = setInterval(poll, options.drainPollMs);
  const heartbeatTimer = setInterval(beat, options.heartbeatMs);
  const wake = watchPendingJobs(options, child, () => draining);

  const exit = await child.exited();
  clearInterval(pollTimer);
  clearInterval(heartbeatTimer);
  const wakeCall = wake.stop();
  for (const sig of DRAIN_SIGNALS) options.signals.off(sig, onSignal);
  await Promise.all([selfDrainWrite, tableCall, wakeCall]);

  const reason = describeExit(exit);
  logger.info(reason, { drained: draining });
  await markStoppedAtExit(options, reason, now);
  return exitCodeOf(exit);
}

/** Reads the pending jobs every `wake.pollMs`, one read at a time; `stop` resolves once the last read is done. */
function watchPendingJobs(
  { wake, logger, concurrent }: SuperviseOptions,
  generations: RunnerGenerations,
  draining: () => boolean,
): { stop(): Promise<void> } {
  if (!wake) return { stop: async () => undefined };
  const poll = pendingJobWatcher(
    wake,
    {
      concurrent,
      mayWake: () => !draining() && generations.retiringCount < MAX_RETIRING_GENERATIONS,
      wake: (concurrent) => generations.renew(concurrent),
    },
    logger,
  );
  let inFlight: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    inFlight ??= poll()
      .catch((err: unknown) =>
        logger.warn("reading pending jobs failed; will retry", { error: errorText(err) }),
      )
      .finally(() => {
        inFlight = undefined;
      });
  }, wake.pollMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}

const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** The record's state as gitlab-runner starts (RUNNING, or a drain asked already); UNKNOWN when it cannot be read. */
async function markRunningAtStart(
  { record, logger }: SuperviseOptions,
  now: () => number,
): Promise<RecordState | "UNKNOWN"> {
  try {
    return await record.markRunning(now());
  } catch (err) {
    logger.warn("could not mark the manager record RUNNING; starting anyway and retrying", {
      error: errorText(err),
    });
    return "UNKNOWN";
  }
}

/** STOPPED as the record's last word, tried three times. */
async function markStoppedAtExit(
  { record, logger }: SuperviseOptions,
  reason: string,
  now: () => number,
): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const written = await record.markStopped(reason, now());
      logger.info(written ? "manager record STOPPED" : "manager record already STOPPED or not ours");
      return;
    } catch (err) {
      logger.warn("could not mark the manager record STOPPED", { attempt, error: errorText(err) });
      if (attempt < 3) await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
