/**
 * The job event on the bus: one schema for its `detail`, which the webhook publishes and scale-up and
 * job-status read. Consumers read it leniently (`parseJobEventDetail`): only the status and the job's ids are
 * required, ids may arrive as strings, and fields they do not use are let through untouched, so a malformed event
 * fails with a message naming the field.
 */
import * as z from "zod";

/** The `detail` of a job event as the webhook publishes it (docs/architecture.md "Events on the bus"). */
export const jobEventDetailSchema = z.object({
  /** Which hook reported the job: `build` (Job Hook) or `pipeline` (an element of a Pipeline Hook's builds[]). */
  kind: z.enum(["build", "pipeline"]),
  /** GitLab job status: created, pending, running, success, failed, canceled (pipeline builds: also others). */
  status: z.string(),
  projectId: z.number().int(),
  projectPath: z.string().nullable(),
  jobId: z.number().int(),
  jobName: z.string().nullable(),
  pipelineId: z.number().int().nullable(),
  /** The runner that took the job (the runner's tags, not the job's), or null. */
  runner: z.object({ id: z.number().int(), tags: z.array(z.string()) }).nullable(),
  createdAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  queuedDurationSeconds: z.number().nullable(),
  /** Dedupe key of the delivery that carried the job, or null when GitLab sent none. */
  deliveryId: z.string().nullable(),
  /** When the webhook received the delivery (ISO 8601). */
  receivedAt: z.string(),
});
export type JobEventDetail = z.infer<typeof jobEventDetailSchema>;

const timestamp = z.union([z.string(), z.number()]).nullish();

/**
 * The consumers' view of the same schema: every field optional but the status and the job's ids, ids and
 * timestamps also as strings or numbers. Built on first use, so the webhook's bundle does not carry it.
 */
function consumerView() {
  return jobEventDetailSchema
    .partial()
    .extend({
      kind: z.string().optional(),
      status: z.string().min(1),
      projectId: z.coerce.number().int().positive(),
      jobId: z.coerce.number().int().positive(),
      pipelineId: z.coerce.number().int().nullish(),
      runner: z
        .object({ id: z.coerce.number().nullish(), tags: z.array(z.string()).nullish() })
        .passthrough()
        .nullish(),
      createdAt: timestamp,
      startedAt: timestamp,
      finishedAt: timestamp,
      // Passed through to a metric only: a negative or odd value is dropped, never the whole event.
      queuedDurationSeconds: z.number().finite().nonnegative().nullish().catch(null),
      receivedAt: timestamp,
    })
    .passthrough();
}
let consumerSchema: ReturnType<typeof consumerView> | undefined;
export type JobEventInput = z.infer<ReturnType<typeof consumerView>>;

/** Raised for an event that can never be processed; it ends in the dead-letter queue after the retries. */
export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidEventError";
  }
}

/** Validates the `detail` of an EventBridge event. */
export function parseJobEventDetail(event: unknown): JobEventInput {
  const detail = (event as { detail?: unknown } | null)?.detail;
  consumerSchema ??= consumerView();
  const result = consumerSchema.safeParse(detail);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `detail.${i.path.map(String).join(".")}: ${i.message}`);
    throw new InvalidEventError(`invalid job event: ${issues.join("; ")}`);
  }
  return result.data;
}

/** Epoch milliseconds of an ISO string, or of a number already in ms; undefined otherwise. */
export function toEpochMs(value: string | number | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
