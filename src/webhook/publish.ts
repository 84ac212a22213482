/**
 * GitLab jobs → normalised job events on the bus.
 *
 * Publishing policy (GitLab disables a hook that fails 4 times in a row and drops events while it is
 * disabled, so an authentic delivery must not fail for our internal trouble):
 * 1. Entries go out in PutEvents requests of at most 10 entries and 256 KB.
 * 2. Entries that fail (a thrown request after the SDK's own retries, or per-entry FailedEntryCount
 *    results) are retried with jittered exponential backoff, bounded by attempts and a time budget
 *    well inside GitLab's 10 s delivery timeout.
 * 3. What still fails goes to the dead-letter queue (SQS), one message per ≤ 256 KB of entries, to be
 *    redriven with PutEvents later; the delivery is then acknowledged (2xx).
 * 4. Only if the dead-letter queue is also unreachable is the delivery refused (503), so that the
 *    events are not lost silently: GitLab's "Resend request" can deliver them again.
 */
import type { PutEventsRequest, PutEventsRequestEntry, PutEventsResponse } from "@aws-sdk/client-eventbridge";
import type { JobEventDetail } from "../events/job-event.js";
import { JOB_EVENT_DETAIL_TYPE, JOB_EVENT_SOURCE } from "../events/patterns.js";
import type { GitlabJob } from "../gitlab/payloads.js";

/** EventBridge limits: 10 entries per PutEvents request, 256 KB per entry and per request. */
export const MAX_ENTRIES_PER_REQUEST = 10;
export const MAX_EVENT_BYTES = 256 * 1024;
/** SQS message size limit the dead-letter messages keep under. */
export const MAX_SQS_MESSAGE_BYTES = 256 * 1024;

/** Bounds, in code points, that keep every entry far below 256 KB whatever a payload holds. */
const MAX_NAME_CHARS = 255;
const MAX_PATH_CHARS = 1024;
const MAX_RUNNER_TAGS = 100;

export interface DeliveryContext {
  kind: JobEventDetail["kind"];
  deliveryId: string | null;
  receivedAt: Date;
}

/** At most `max` code points: a cut never splits a surrogate pair (an emoji) into an unpaired half. */
export function truncate(value: string | null, max: number): string | null {
  if (value === null || value.length <= max) return value;
  return Array.from(value).slice(0, max).join("");
}

export function toJobEventDetail(job: GitlabJob, context: DeliveryContext): JobEventDetail {
  return {
    kind: context.kind,
    status: truncate(job.status, 64) ?? "",
    projectId: job.projectId,
    projectPath: truncate(job.projectPath, MAX_PATH_CHARS),
    jobId: job.jobId,
    jobName: truncate(job.jobName, MAX_NAME_CHARS),
    pipelineId: job.pipelineId,
    runner: job.runner
      ? {
          id: job.runner.id,
          tags: job.runner.tags.slice(0, MAX_RUNNER_TAGS).map((tag) => truncate(tag, MAX_NAME_CHARS) ?? ""),
        }
      : null,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    queuedDurationSeconds: job.queuedDurationSeconds,
    deliveryId: context.deliveryId,
    receivedAt: context.receivedAt.toISOString(),
  };
}

export function toPutEventsEntry(
  detail: JobEventDetail,
  eventBusName: string,
  time: Date,
): PutEventsRequestEntry {
  return {
    EventBusName: eventBusName,
    Source: JOB_EVENT_SOURCE,
    DetailType: JOB_EVENT_DETAIL_TYPE,
    Detail: JSON.stringify(detail),
    Time: time,
  };
}

/**
 * Size of an entry as EventBridge counts it (Time 14 bytes + UTF-8 of Source, DetailType, Detail,
 * Resources); the bus name is counted too, to stay on the safe side.
 */
export function entrySizeBytes(entry: PutEventsRequestEntry): number {
  let size = entry.Time ? 14 : 0;
  for (const text of [
    entry.Source,
    entry.DetailType,
    entry.Detail,
    entry.EventBusName,
    ...(entry.Resources ?? []),
  ]) {
    if (text) size += Buffer.byteLength(text, "utf8");
  }
  return size;
}

export interface EntryBatches {
  batches: PutEventsRequestEntry[][];
  /** Entries EventBridge would refuse whatever we do; they go straight to the dead-letter queue. */
  oversized: PutEventsRequestEntry[];
}

/** Groups entries into PutEvents requests: at most 10 entries and 256 KB each, order kept. */
export function batchEntries(entries: readonly PutEventsRequestEntry[]): EntryBatches {
  const batches: PutEventsRequestEntry[][] = [];
  const oversized: PutEventsRequestEntry[] = [];
  let current: PutEventsRequestEntry[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    const size = entrySizeBytes(entry);
    if (size > MAX_EVENT_BYTES) {
      oversized.push(entry);
      continue;
    }
    if (current.length === MAX_ENTRIES_PER_REQUEST || currentBytes + size > MAX_EVENT_BYTES) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += size;
  }
  if (current.length > 0) batches.push(current);
  return { batches, oversized };
}

/** The one EventBridge call (SDK types); the webhook wires its lean client in, tests and benchmarks a fake. */
export interface EventPublisher {
  putEvents(input: PutEventsRequest): Promise<PutEventsResponse>;
}

export interface FailedEntry {
  entry: PutEventsRequestEntry;
  errorCode: string;
}

export interface PublishOptions {
  /** Attempts per entry, the first included. */
  maxAttempts?: number;
  baseDelayMs?: number;
  /** No new attempt starts after this many ms from the first one. */
  timeBudgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

export interface PublishResult {
  published: number;
  failed: FailedEntry[];
  attempts: number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function putBatch(publisher: EventPublisher, batch: PutEventsRequestEntry[]): Promise<FailedEntry[]> {
  try {
    const output = await publisher.putEvents({ Entries: batch });
    if (!output.FailedEntryCount) return [];
    // Results are positional: entry i of the request ↔ result i; a result with an ErrorCode failed.
    const failed: FailedEntry[] = [];
    batch.forEach((entry, index) => {
      const result = output.Entries?.[index];
      if (!result || result.ErrorCode || !result.EventId)
        failed.push({ entry, errorCode: result?.ErrorCode ?? "NoResult" });
    });
    return failed;
  } catch (error) {
    const code = (error as Error).name || "RequestFailed";
    return batch.map((entry) => ({ entry, errorCode: code }));
  }
}

/** Puts entries on the bus, retrying what fails; returns what could not be put. Never throws. */
export async function publishEntries(
  publisher: EventPublisher,
  entries: readonly PutEventsRequestEntry[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const maxAttempts = options.maxAttempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const timeBudgetMs = options.timeBudgetMs ?? 3000;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const started = now();

  const { batches, oversized } = batchEntries(entries);
  let toSend = batches.flat();
  let lastFailures: FailedEntry[] = [];
  let attempts = 0;
  while (toSend.length > 0) {
    if (attempts > 0) {
      if (attempts >= maxAttempts) break;
      // Full-jitter exponential backoff; give up once the next attempt would overrun the time budget.
      const delay = Math.round(random() * baseDelayMs * 2 ** (attempts - 1));
      if (now() + delay - started > timeBudgetMs) break;
      await sleep(delay);
    }
    attempts += 1;
    const results = await Promise.all(
      batchEntries(toSend).batches.map((batch) => putBatch(publisher, batch)),
    );
    lastFailures = results.flat();
    toSend = lastFailures.map((failure) => failure.entry);
  }
  const failed = [...oversized.map((entry) => ({ entry, errorCode: "EntryTooLarge" })), ...lastFailures];
  return { published: entries.length - failed.length, failed, attempts };
}

/** Where entries that could not be put are kept for a later redrive (the webhook wires SQS in). */
export interface DeadLetterSink {
  send(messageBody: string): Promise<void>;
}

export interface DeadLetterMessage {
  reason: "put-events-failed";
  deliveryId: string | null;
  failedAt: string;
  /** PutEvents entries, ready to be put again (Time as ISO 8601). */
  entries: { errorCode: string; entry: PutEventsRequestEntry }[];
}

/** Splits failed entries into dead-letter messages below the SQS size limit. */
export function toDeadLetterMessages(
  failed: readonly FailedEntry[],
  deliveryId: string | null,
  failedAt: Date,
): string[] {
  const header: Omit<DeadLetterMessage, "entries"> = {
    reason: "put-events-failed",
    deliveryId,
    failedAt: failedAt.toISOString(),
  };
  const overhead = Buffer.byteLength(JSON.stringify({ ...header, entries: [] }), "utf8");
  const messages: string[] = [];
  let current: DeadLetterMessage["entries"] = [];
  let currentBytes = overhead;
  for (const { entry, errorCode } of failed) {
    const item = { errorCode, entry };
    const size = Buffer.byteLength(JSON.stringify(item), "utf8") + 1;
    if (current.length > 0 && currentBytes + size > MAX_SQS_MESSAGE_BYTES) {
      messages.push(JSON.stringify({ ...header, entries: current }));
      current = [];
      currentBytes = overhead;
    }
    current.push(item);
    currentBytes += size;
  }
  if (current.length > 0) messages.push(JSON.stringify({ ...header, entries: current }));
  return messages;
}

/** Sends every dead-letter message; throws if any could not be sent (the caller then answers 503). */
export async function deadLetter(
  sink: DeadLetterSink,
  failed: readonly FailedEntry[],
  deliveryId: string | null,
  failedAt: Date,
): Promise<number> {
  const messages = toDeadLetterMessages(failed, deliveryId, failedAt);
  await Promise.all(messages.map((body) => sink.send(body)));
  return messages.length;
}
