import { describe, expect, it } from "vitest";
import {
  JOB_STATUSES,
  jobHook,
  pipelineHook,
  pushHook,
  RUNNER,
} from "../../test/webhook/fixtures/payloads.js";
import { parseWebhookBody } from "./payloads.js";

const parse = (payload: unknown) => parseWebhookBody(JSON.stringify(payload));

describe("webhook payload parsing", () => {
  it.each(JOB_STATUSES)("reads a Job Hook with status %s", (status) => {
    const result = parse(jobHook(status));
    if (!result.ok || result.webhook.kind !== "build")
      throw new Error(`unexpected ${JSON.stringify(result)}`);
    const [job] = result.webhook.jobs;
    expect(job).toMatchObject({
      jobId: 380_001,
      jobName: "unit-tests",
      status,
      projectId: 4711,
      pipelineId: 1_201,
    });
    expect(job.projectPath).toBe("acme/backend/payments");
    expect(job.createdAt).toBe("2026-11-27T10:00:00.123Z");
    const hasRunner = ["running", "success", "failed"].includes(status);
    expect(job.runner).toEqual(hasRunner ? { id: RUNNER.id, tags: RUNNER.tags } : null);
  });

  it("falls back to legacy timestamps when newer fields are absent, and never takes project_name for a path", () => {
    const payload = jobHook("running", {
      build_created_at_iso: undefined,
      build_started_at_iso: undefined,
      build_created_at: "2026-11-27 10:00:00 UTC",
      build_started_at: "2026-11-27 10:00:21 UTC",
      project: undefined,
    });
    const result = parse(payload);
    if (!result.ok || result.webhook.kind !== "build") throw new Error("expected a build");
    expect(result.webhook.jobs[0]).toMatchObject({
      createdAt: "2026-11-27T10:00:00.000Z",
      startedAt: "2026-11-27T10:00:21.000Z",
      projectPath: null,
    });
  });

  it("passes odd queued durations and runner tags through instead of refusing the delivery", () => {
    const read = (overrides: Record<string, unknown>) => {
      const result = parse(jobHook("running", overrides));
      if (!result.ok || result.webhook.kind !== "build")
        throw new Error(`unexpected ${JSON.stringify(result)}`);
      return result.webhook.jobs[0];
    };
    expect(read({ build_queued_duration: "2.25" }).queuedDurationSeconds).toBe(2.25);
    expect(read({ build_queued_duration: "soon" }).queuedDurationSeconds).toBeNull();
    expect(read({ build_queued_duration: -3 }).queuedDurationSeconds).toBeNull();
    expect(read({ build_queued_duration: undefined }).queuedDurationSeconds).toBeNull();
    const tagged = read({ runner: { ...RUNNER, tags: ["fargate", 7, true, { odd: 1 }, null] } });
    expect(tagged.runner).toEqual({ id: RUNNER.id, tags: ["fargate", "7", "true"] });
    expect(read({ runner: { ...RUNNER, tags: "fargate" } }).runner).toEqual({ id: RUNNER.id, tags: [] });
    expect(read({ runner: { id: "x" } }).runner).toBeNull();
  });

  it("never lets a negative pipeline build queued duration through", () => {
    const payload = pipelineHook([{ id: 1, status: "pending" }]);
    (payload.builds as Record<string, unknown>[])[0]!.queued_duration = -0.5;
    const result = parse(payload);
    if (!result.ok || result.webhook.kind !== "pipeline") throw new Error("expected a pipeline");
    expect(result.webhook.jobs[0]!.queuedDurationSeconds).toBeNull();
  });

  it("reads every build of a Pipeline Hook and counts unreadable ones", () => {
    const payload = pipelineHook([
      { id: 1, status: "pending" },
      { id: 2, status: "created" },
      { id: 3, status: "running", runner: true },
    ]);
    (payload.builds as unknown[]).push({ id: "not-a-number", status: "pending" });
    const result = parse(payload);
    if (!result.ok || result.webhook.kind !== "pipeline") throw new Error("expected a pipeline");
    expect(result.webhook.pipelineId).toBe(1_202);
    expect(result.webhook.unreadableBuilds).toBe(1);
    expect(result.webhook.jobs.map((j) => [j.jobId, j.status, j.runner?.id ?? null])).toEqual([
      [1, "pending", null],
      [2, "created", null],
      [3, "running", RUNNER.id],
    ]);
    expect(result.webhook.jobs[2]!.startedAt).toBe("2026-11-27T10:00:30.000Z");
    expect(result.webhook.jobs[0]!.queuedDurationSeconds).toBe(1.5);
  });

  it("ignores kinds other than build and pipeline", () => {
    expect(parse(pushHook())).toEqual({ ok: true, webhook: { kind: "ignored", objectKind: "push" } });
  });

  it("names the reason a body is refused, without echoing values", () => {
    expect(parseWebhookBody("{not json")).toEqual({ ok: false, reason: "not-json" });
    expect(parseWebhookBody("[1,2]")).toEqual({ ok: false, reason: "no-object-kind" });
    expect(parseWebhookBody('"build"')).toEqual({ ok: false, reason: "no-object-kind" });
    expect(parse({ object_kind: 7 })).toEqual({ ok: false, reason: "no-object-kind" });
    const invalid = parse(jobHook("pending", { build_id: "secret-looking-value" }));
    expect(invalid).toMatchObject({ ok: false, reason: "invalid-payload" });
    expect(JSON.stringify(invalid)).toContain("build_id");
    expect(JSON.stringify(invalid)).not.toContain("secret-looking-value");
  });
});
