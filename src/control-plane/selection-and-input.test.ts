import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.js";
import { InvalidEventError, parseJobEventDetail, toEpochMs } from "../events/job-event.js";
import { isConditionalFailure, taskIdOf } from "../state/table.js";
import { selectRunners } from "./runner-selection.js";

const config = parseConfig({
  gitlab: { url: "https://gitlab.example.com" },
  runners: [
    { name: "small", tags: ["fargate"], runUntagged: true },
    { name: "big", tags: ["fargate", "4vcpu"] },
    { name: "arm", tags: ["fargate", "arm64"] },
  ],
});
const names = (tags: string[] | undefined) => selectRunners(config.runners, tags).map((r) => r.name);

describe("runner selection", () => {
  it("with known tags: the configurations whose tags include all of the job's", () => {
    expect(names(["fargate"])).toEqual(["small", "big", "arm"]);
    expect(names(["fargate", "4vcpu"])).toEqual(["big"]);
    expect(names(["gpu"])).toEqual([]);
  });
  it("untagged jobs only on runUntagged configurations", () => {
    expect(names([])).toEqual(["small"]);
  });
  it("unknown tags (no token, API down): every configuration", () => {
    expect(names(undefined)).toEqual(["small", "big", "arm"]);
  });
});

describe("job event input", () => {
  const event = (detail: unknown) => ({ "detail-type": "GitLab Job Event", detail });
  it("reads the normalised event and keeps unknown fields", () => {
    const parsed = parseJobEventDetail(
      event({ status: "pending", projectId: 3, jobId: "9", runner: null, extra: 1 }),
    );
    expect(parsed).toMatchObject({ status: "pending", projectId: 3, jobId: 9, extra: 1 });
  });
  it("drops a negative or odd queued duration instead of refusing the event", () => {
    for (const queuedDurationSeconds of [-2, "1.5", Number.NaN]) {
      const parsed = parseJobEventDetail(
        event({ status: "running", projectId: 3, jobId: 9, queuedDurationSeconds }),
      );
      expect(parsed.queuedDurationSeconds).toBeNull();
    }
  });
  it("names the bad field", () => {
    expect(() => parseJobEventDetail(event({ status: "pending", projectId: -1, jobId: 2 }))).toThrow(
      /detail\.projectId/,
    );
    expect(() => parseJobEventDetail({})).toThrow(InvalidEventError);
    expect(() => parseJobEventDetail(null)).toThrow(InvalidEventError);
  });
  it("converts timestamps", () => {
    expect(toEpochMs("2026-11-27T12:00:01Z")).toBe(Date.UTC(2026, 10, 27, 12, 0, 1));
    expect(toEpochMs(5)).toBe(5);
    expect(toEpochMs("yesterday")).toBeUndefined();
    expect(toEpochMs(null)).toBeUndefined();
  });
});

describe("state table helpers", () => {
  it("tells a lost race from a transaction cancelled for another reason", () => {
    expect(isConditionalFailure({ name: "ConditionalCheckFailedException" })).toBe(true);
    expect(
      isConditionalFailure({
        name: "TransactionCanceledException",
        CancellationReasons: [{ Code: "None" }, { Code: "ConditionalCheckFailed" }],
      }),
    ).toBe(true);
    expect(
      isConditionalFailure({
        name: "TransactionCanceledException",
        CancellationReasons: [{ Code: "TransactionConflict" }],
      }),
    ).toBe(false);
    expect(isConditionalFailure(new Error("boom"))).toBe(false);
  });
  it("takes the task id from either ARN format", () => {
    expect(taskIdOf("arn:aws:ecs:eu-west-1:1:task/cluster/abc123")).toBe("abc123");
    expect(taskIdOf("arn:aws:ecs:eu-west-1:1:task/abc123")).toBe("abc123");
  });
});

describe("contract with the webhook's events (events/job-event.ts)", () => {
  it("accepts every detail the webhook emits, for each status", async () => {
    const { jobEventDetailSchema } = await import("../events/job-event.js");
    for (const status of ["created", "pending", "running", "success", "failed", "canceled"]) {
      const detail = jobEventDetailSchema.parse({
        kind: "build",
        status,
        projectId: 380,
        projectPath: "group/project",
        jobId: 1977,
        jobName: "test",
        pipelineId: 2366,
        runner: status === "pending" ? null : { id: 4, tags: ["fargate"] },
        createdAt: "2026-11-27T12:00:00Z",
        startedAt: null,
        finishedAt: null,
        queuedDurationSeconds: 1.5,
        deliveryId: null,
        receivedAt: "2026-11-27T12:00:01.000Z",
      });
      expect(parseJobEventDetail({ detail })).toMatchObject({ status, projectId: 380, jobId: 1977 });
    }
  });
});
