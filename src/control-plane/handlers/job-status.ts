/**
 * Job-events Lambda (EventBridge target, every job status event): job records for the reconciler and the
 * queue-to-start metrics. Throws on failure (EventBridge/Lambda retry, then dead-letter); idempotent.
 */
import type { EventBridgeEvent } from "aws-lambda";
import { createDocumentClient } from "../../config/aws-clients.js";
import { loadConfigFromEnv, loadResourcesFromEnv } from "../../config/index.js";
import { parseJobEventDetail } from "../../events/job-event.js";
import { jobCostEstimator } from "../../observability/cost-per-job.js";
import { createLogger } from "../../observability/logger.js";
import { type RecordOutcome, recordJobEvent } from "../../state/job-records.js";
import { powertoolsMetrics } from "../runtime-common.js";

const logger = createLogger("job-status");
const { sink, metrics } = powertoolsMetrics("job-status");
let wiring:
  | {
      db: ReturnType<typeof createDocumentClient>;
      tableName: string;
      jobCostUsd: ReturnType<typeof jobCostEstimator>;
    }
  | undefined;

export async function handler(event: EventBridgeEvent<string, unknown>): Promise<{ outcome: RecordOutcome }> {
  wiring ??= {
    db: createDocumentClient(),
    tableName: loadResourcesFromEnv().stateTableName,
    // Cost per job metric: priced with the region's Fargate prices (AWS_REGION is set in every Lambda).
    jobCostUsd: jobCostEstimator(loadConfigFromEnv(), process.env.AWS_REGION ?? "us-east-1"),
  };
  try {
    const job = parseJobEventDetail(event);
    const outcome = await recordJobEvent({ ...wiring, logger, metrics: sink }, job, Date.now());
    logger.info("job event recorded", {
      projectId: job.projectId,
      jobId: job.jobId,
      status: job.status,
      outcome,
    });
    return { outcome };
  } catch (err) {
    logger.error("job event not recorded; it will be retried", {
      error: (err as Error).message,
      eventId: event.id,
    });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
}
