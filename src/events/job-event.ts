/**
 * The part of the normalised job event (docs/architecture.md "Events on the bus", produced by
 * `job-events.ts`) that the control plane reads, validated at the edge so a malformed event fails with a
 * message naming the field. Fields it does not use are let through untouched.
 */
import { z } from "zod";

const timestamp = z.union([z.string(), z.number()]).nullish();

export const jobEventInputSchema = z
  .object({
    kind: z.string().optional(),
    status: z.string().min(1),
    projectId: z.coerce.number().int().positive(),
    jobId: z.coerce.number().int().positive(),
    pipelineId: z.coerce.number().int().nullish(),
    jobName: z.string().nullish(),
    runner: z
      .object({ id: z.coerce.number().nullish(), tags: z.array(z.string()).nullish() })
      .passthrough()
      .nullish(),
    createdAt: timestamp,
    startedAt: timestamp,
    finishedAt: timestamp,
    queuedDurationSeconds: z.number().nonnegative().nullish(),
    receivedAt: timestamp,
    deliveryId: z.string().nullish(),
  })
  .passthrough();
export type JobEventInput = z.infer<typeof jobEventInputSchema>;

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
  const result = jobEventInputSchema.safeParse(detail);
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
