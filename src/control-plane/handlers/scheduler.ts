/**
 * Scheduler Lambda (EventBridge schedule, every `schedulePeriodMinutes`): idle stop, crashed and over-age
 * managers, the missed-webhook reconciler, then the driver's janitor (orphaned job tasks each period,
 * unused job task definitions in the first period of each hour). Throws when a control-plane step failed,
 * after running all of them; the janitor's own failures are logged and retried next period. A period that finds
 * another one still running (the lease) skips.
 */
import type { Context, ScheduledEvent } from "aws-lambda";
import { createLogger } from "../../observability/logger.js";
import { janitorCursor } from "../../state/janitor-cursor.js";
import { acquireSchedulerLease } from "../../state/lease.js";
import { type JanitorReport, runJanitor } from "../janitor.js";
import { createControlPlaneDeps, powertoolsMetrics } from "../runtime.js";
import { runSchedulerPeriod, type SchedulerResult } from "../scheduler.js";

const logger = createLogger("scheduler");
const { sink, metrics } = powertoolsMetrics("scheduler");
let deps: ReturnType<typeof createControlPlaneDeps> | undefined;

/** Lease length when there is no Lambda context (local invocation): the function's timeout. */
const DEFAULT_HOLD_MS = 50_000;

export async function handler(
  _event: ScheduledEvent,
  context?: Pick<Context, "getRemainingTimeInMillis">,
): Promise<(SchedulerResult & { janitor?: JanitorReport }) | { skipped: string }> {
  deps ??= createControlPlaneDeps({ logger, metrics: sink });
  const lease = await acquireSchedulerLease(
    { db: deps.db, tableName: deps.resources.stateTableName },
    deps.now(),
    context?.getRemainingTimeInMillis() ?? DEFAULT_HOLD_MS,
  );
  if (!lease) {
    logger.info("another scheduler period is still running; skipping this one");
    return { skipped: "another scheduler period is still running" };
  }
  try {
    const result = await runSchedulerPeriod(deps);
    logger.info("scheduler period done", {
      decisions: result.reviews.flatMap((r) => r.decisions.map((d) => `${r.runner}:${d.decision}`)),
      reconciled: result.reconcile?.ensured.length ?? 0,
    });
    const janitor = await runJanitorSafely(deps);
    if (result.errors.length > 0) throw new Error(`scheduler period failed: ${result.errors.join("; ")}`);
    return { ...result, ...(janitor ? { janitor } : {}) };
  } finally {
    await lease
      .release()
      .catch((err: Error) =>
        logger.warn("could not release the scheduler lease; it expires", { error: err.message }),
      );
    metrics.publishStoredMetrics();
  }
}

async function runJanitorSafely(d: NonNullable<typeof deps>): Promise<JanitorReport | undefined> {
  const now = new Date(d.now());
  try {
    const cursor = janitorCursor({ db: d.db, tableName: d.resources.stateTableName });
    // The sweep starts once an hour (a retention in days needs no more); an unfinished one goes on every period.
    const sweepStarts = now.getUTCMinutes() < d.config.schedulePeriodMinutes;
    const sweepPending = (await cursor.load()) !== undefined;
    const report = await runJanitor(
      { ecs: d.ecs, logger },
      {
        config: d.config,
        cluster: d.resources.clusterArn,
        familyScope: d.resources.jobFamilyScope,
        cursor,
        skipTaskDefinitions: !sweepStarts && !sweepPending,
      },
      now,
    );
    if (report.errors.length > 0)
      logger.warn("janitor had failures; the next period retries", { errors: report.errors });
    return report;
  } catch (err) {
    logger.warn("janitor failed; the next period retries", { error: (err as Error).message });
    return undefined;
  }
}
