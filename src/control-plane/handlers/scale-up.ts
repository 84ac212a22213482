/**
 * Scale-up Lambda (EventBridge target, pending job events): makes sure a manager serves the job.
 * Throws on any failure so EventBridge/Lambda retry it and finally dead-letter it; every step is
 * idempotent, so a retry never starts a second manager.
 */
import type { EventBridgeEvent } from "aws-lambda";
import { parseJobEventDetail } from "../../events/job-event.js";
import { createLogger } from "../../observability/logger.js";
import { createControlPlaneDeps, powertoolsMetrics } from "../runtime.js";
import { handlePendingJob, type PendingJobOutcome } from "../scale-up.js";
import { speculativeDeps } from "../speculative-runtime.js";
import { startSpeculativeJobTask } from "../speculative-start.js";

const logger = createLogger("scale-up");
const { sink, metrics } = powertoolsMetrics("scale-up");
let deps: ReturnType<typeof speculativeDeps> | undefined;

export async function handler(event: EventBridgeEvent<string, unknown>): Promise<PendingJobOutcome> {
  deps ??= speculativeDeps(createControlPlaneDeps({ logger, metrics: sink }));
  try {
    const job = parseJobEventDetail(event);
    logger.appendKeys({ projectId: job.projectId, jobId: job.jobId });
    const outcome = await handlePendingJob(deps, job);
    const speculative = await startSpeculativeJobTask(deps, job, outcome);
    logger.info("pending job handled", { outcome, speculative });
    return outcome;
  } catch (err) {
    logger.error("scale-up failed; the event will be retried", {
      error: (err as Error).message,
      eventId: event.id,
    });
    throw err;
  } finally {
    logger.removeKeys(["projectId", "jobId"]);
    metrics.publishStoredMetrics();
  }
}
