import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { describe, expect, it } from "vitest";
import { FakePublisher } from "../../test/webhook/support/fakes.js";
import { jobEventDetailSchema } from "../events/job-event.js";
import { JOB_EVENT_DETAIL_TYPE, JOB_EVENT_SOURCE } from "../events/patterns.js";
import type { GitlabJob } from "../gitlab/payloads.js";
import {
  batchEntries,
  deadLetter,
  entrySizeBytes,
  MAX_EVENT_BYTES,
  MAX_SQS_MESSAGE_BYTES,
  publishEntries,
  toDeadLetterMessages,
  toJobEventDetail,
  toPutEventsEntry,
} from "./publish.js";

const job: GitlabJob = {
  jobId: 11,
  jobName: "build",
  status: "pending",
  pipelineId: 5,
  projectId: 7,
  projectPath: "acme/app",
  runner: null,
  createdAt: "2026-11-27T10:00:00.000Z",
  startedAt: null,
  finishedAt: null,
  queuedDurationSeconds: 0.5,
};
const receivedAt = new Date("2026-11-27T10:00:01.000Z");

function entries(count: number, detailBytes = 100): PutEventsRequestEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    Source: JOB_EVENT_SOURCE,
    DetailType: JOB_EVENT_DETAIL_TYPE,
    Detail: JSON.stringify({ i, pad: "x".repeat(detailBytes) }),
    EventBusName: "bus",
  }));
}

describe("job event detail", () => {
  it("carries exactly the contract fields and validates against the published schema", () => {
    const detail = toJobEventDetail(job, { kind: "build", deliveryId: "d-1", receivedAt });
    expect(detail).toEqual({
      kind: "build",
      status: "pending",
      projectId: 7,
      projectPath: "acme/app",
      jobId: 11,
      jobName: "build",
      pipelineId: 5,
      runner: null,
      createdAt: "2026-11-27T10:00:00.000Z",
      startedAt: null,
      finishedAt: null,
      queuedDurationSeconds: 0.5,
      deliveryId: "d-1",
      receivedAt: "2026-11-27T10:00:01.000Z",
    });
    expect(jobEventDetailSchema.strict().parse(detail)).toEqual(detail);
  });

  it("bounds names and tags so an entry stays far below 256 KB", () => {
    const huge: GitlabJob = {
      ...job,
      jobName: "n".repeat(10_000),
      projectPath: "p".repeat(100_000),
      runner: { id: 1, tags: Array.from({ length: 5_000 }, () => "t".repeat(1_000)) },
    };
    const entry = toPutEventsEntry(
      toJobEventDetail(huge, { kind: "pipeline", deliveryId: null, receivedAt }),
      "bus",
      receivedAt,
    );
    expect(entrySizeBytes(entry)).toBeLessThan(MAX_EVENT_BYTES / 4);
    expect(entry).toMatchObject({
      Source: JOB_EVENT_SOURCE,
      DetailType: JOB_EVENT_DETAIL_TYPE,
      EventBusName: "bus",
      Time: receivedAt,
    });
  });

  it("cuts names, paths and tags by code points, never splitting an emoji", () => {
    const emoji = "\u{1F680}";
    const detail = toJobEventDetail(
      {
        ...job,
        jobName: emoji.repeat(200),
        projectPath: `a${emoji.repeat(2_000)}`,
        runner: { id: 1, tags: Array.from({ length: 200 }, () => emoji.repeat(300)) },
      },
      { kind: "build", deliveryId: null, receivedAt },
    );
    expect(detail.jobName).toBe(emoji.repeat(200));
    expect(Array.from(detail.projectPath ?? "")).toHaveLength(1024);
    const texts = [detail.jobName, detail.projectPath, ...(detail.runner?.tags ?? [])];
    for (const text of texts) expect(text?.isWellFormed()).toBe(true);
    expect(detail.runner?.tags[0]).toBe(emoji.repeat(255));
    expect(entrySizeBytes(toPutEventsEntry(detail, "bus", receivedAt))).toBeLessThan(MAX_EVENT_BYTES / 2);
  });
});

describe("batching", () => {
  it("puts at most 10 entries in a request, keeping order", () => {
    const { batches, oversized } = batchEntries(entries(25));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((e) => JSON.parse(e.Detail!).i)).toEqual(
      Array.from({ length: 25 }, (_, i) => i),
    );
    expect(oversized).toEqual([]);
  });

  it("keeps each request within 256 KB and sets aside entries that can never fit", () => {
    const big = entries(6, 60_000);
    const tooBig = entries(1, MAX_EVENT_BYTES);
    const { batches, oversized } = batchEntries([...big, ...tooBig]);
    expect(oversized).toEqual(tooBig);
    for (const batch of batches) {
      expect(batch.reduce((sum, e) => sum + entrySizeBytes(e), 0)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    }
    expect(batches.map((b) => b.length)).toEqual([4, 2]);
  });
});

describe("publishing with retries", () => {
  const fast = { sleep: async () => {}, random: () => 1 };

  it("sends many entries in several requests", async () => {
    const publisher = new FakePublisher();
    const result = await publishEntries(publisher, entries(23), fast);
    expect(result).toEqual({ published: 23, failed: [], attempts: 1 });
    expect(publisher.requests.map((r) => r.length)).toEqual([10, 10, 3]);
  });

  it("retries only the entries PutEvents reported as failed", async () => {
    const publisher = new FakePublisher();
    publisher.failEntry = (entry, attempt) =>
      JSON.parse(entry.Detail!).i % 3 === 0 && attempt < 3 ? "ThrottlingException" : undefined;
    const result = await publishEntries(publisher, entries(12), fast);
    expect(result.failed).toEqual([]);
    expect(result.attempts).toBe(3);
    expect(publisher.requests.map((r) => r.length)).toEqual([10, 2, 4, 4]);
    expect(publisher.published).toHaveLength(12);
  });

  it("gives up after the attempts and returns what failed with its error code", async () => {
    const publisher = new FakePublisher();
    publisher.failEntry = (entry) => (JSON.parse(entry.Detail!).i === 1 ? "InternalFailure" : undefined);
    const result = await publishEntries(publisher, entries(3), { ...fast, maxAttempts: 3 });
    expect(result.published).toBe(2);
    expect(result.attempts).toBe(3);
    expect(result.failed.map((f) => [JSON.parse(f.entry.Detail!).i, f.errorCode])).toEqual([
      [1, "InternalFailure"],
    ]);
  });

  it("treats a thrown request as all its entries failing, and stops at the time budget", async () => {
    const publisher = new FakePublisher();
    publisher.throwWith = Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    let clock = 0;
    const delays: number[] = [];
    const result = await publishEntries(publisher, entries(4), {
      maxAttempts: 10,
      baseDelayMs: 400,
      timeBudgetMs: 1000,
      random: () => 1,
      now: () => clock,
      sleep: async (ms) => {
        delays.push(ms);
        clock += ms;
      },
    });
    expect(delays).toEqual([400]); // the next delay (800 ms) would overrun the 1 s budget
    expect(result.attempts).toBe(2);
    expect(result.failed.map((f) => f.errorCode)).toEqual([
      "TimeoutError",
      "TimeoutError",
      "TimeoutError",
      "TimeoutError",
    ]);
  });
});

describe("dead-lettering", () => {
  it("splits failed entries into SQS-sized messages that can be put again", async () => {
    const failed = entries(40, 20_000).map((entry) => ({ entry, errorCode: "InternalFailure" }));
    const messages = toDeadLetterMessages(failed, "d-9", receivedAt);
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages)
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_SQS_MESSAGE_BYTES);
    const parsed = messages.map((m) => JSON.parse(m));
    expect(parsed[0]).toMatchObject({
      reason: "put-events-failed",
      deliveryId: "d-9",
      failedAt: receivedAt.toISOString(),
    });
    expect(parsed.flatMap((m) => m.entries.map((e: { entry: PutEventsRequestEntry }) => e.entry))).toEqual(
      failed.map((f) => f.entry),
    );
    const sent: string[] = [];
    expect(await deadLetter({ send: async (body) => void sent.push(body) }, failed, "d-9", receivedAt)).toBe(
      messages.length,
    );
    expect(sent).toEqual(messages);
  });
});
