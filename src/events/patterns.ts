/**
 * The job-event contract on the bus: its source, detail-type and the two rule patterns. The webhook
 * emits with these constants and the CDK app builds its rules from these same objects, so a test
 * that routes emitted events through rules made from them proves the two agree.
 */

export const JOB_EVENT_SOURCE = "serverless-gitlab-runner.webhook";
export const JOB_EVENT_DETAIL_TYPE = "GitLab Job Event";

/** An EventBridge event pattern in the JSON form PutRule takes (`detail-type` with a dash). */
export interface EventPatternJson {
  readonly source: readonly string[];
  readonly "detail-type": readonly string[];
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** A pending job → scale-up (start a manager if none serves it). */
export const PENDING_JOB_PATTERN = {
  source: [JOB_EVENT_SOURCE],
  "detail-type": [JOB_EVENT_DETAIL_TYPE],
  detail: { status: ["pending"] },
} as const satisfies EventPatternJson;

/** Every job status change → job-status (job records for the reconciler, queue-to-start metrics). */
export const JOB_STATUS_PATTERN = {
  source: [JOB_EVENT_SOURCE],
  "detail-type": [JOB_EVENT_DETAIL_TYPE],
} as const satisfies EventPatternJson;

/** The CDK `events.EventPattern` shape of a pattern (`detailType` in camelCase). */
export function toCdkEventPattern(pattern: EventPatternJson): {
  source: string[];
  detailType: string[];
  detail?: Record<string, unknown>;
} {
  return {
    source: [...pattern.source],
    detailType: [...pattern["detail-type"]],
    ...(pattern.detail ? { detail: structuredClone(pattern.detail) as Record<string, unknown> } : {}),
  };
}
