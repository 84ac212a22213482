import { describe, expect, it } from "vitest";
import { createEmfWriter, emfLine } from "./emf.js";
import { METRIC_NAMESPACE, METRICS } from "./metric-names.js";

describe("emfLine", () => {
  it("is one JSON line CloudWatch reads as a metric: namespace, one `service` dimension, unit, timestamp", () => {
    const line = emfLine(
      "manager",
      { name: METRICS.jobTaskRunningSeconds, value: 12.5, unit: "Seconds" },
      1_700_000_000_123.4,
      { jobId: "42" },
    );
    expect(line.endsWith("\n")).toBe(true);
    expect(line.indexOf("\n")).toBe(line.length - 1);
    const doc = JSON.parse(line);
    expect(doc).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_123,
        CloudWatchMetrics: [
          {
            Namespace: METRIC_NAMESPACE,
            Dimensions: [["service"]],
            Metrics: [{ Name: "JobTaskRunningSeconds", Unit: "Seconds" }],
          },
        ],
      },
      service: "manager",
      JobTaskRunningSeconds: 12.5,
      jobId: "42",
    });
    expect(METRIC_NAMESPACE).toBe("ServerlessGitlabRunner");
  });

  it("keeps the reserved members when a property has the same name", () => {
    const doc = JSON.parse(
      emfLine("manager", { name: METRICS.jobFirstScriptByteSeconds, value: 3, unit: "Seconds" }, 1, {
        service: "other",
        JobFirstScriptByteSeconds: 99,
      }),
    );
    expect(doc.service).toBe("manager");
    expect(doc.JobFirstScriptByteSeconds).toBe(3);
  });

  it("refuses a value CloudWatch cannot store", () => {
    expect(() =>
      emfLine("manager", { name: METRICS.jobTaskRunningSeconds, value: Number.NaN, unit: "Seconds" }, 1),
    ).toThrow(/JobTaskRunningSeconds/);
  });
});

describe("createEmfWriter", () => {
  it("writes one line per metric at the writer's clock", () => {
    const lines: string[] = [];
    const writer = createEmfWriter({ service: "manager", write: (l) => lines.push(l), now: () => 5_000 });
    writer.seconds(METRICS.managerStartToRunningSeconds, 7.25, { managerTaskId: "abc" });
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0] ?? "");
    expect(doc._aws.Timestamp).toBe(5_000);
    expect(doc.ManagerStartToRunningSeconds).toBe(7.25);
    expect(doc.managerTaskId).toBe("abc");
  });

  it("writes USD amounts with unit None (CloudWatch has no currency unit)", () => {
    const lines: string[] = [];
    const writer = createEmfWriter({ service: "manager", write: (l) => lines.push(l), now: () => 5_000 });
    writer.usd?.(METRICS.jobTaskCostUsd, 0.0123, { jobId: "9" });
    const doc = JSON.parse(lines[0] ?? "");
    expect(doc._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: "JobTaskCostUsd", Unit: "None" }]);
    expect(doc.JobTaskCostUsd).toBe(0.0123);
  });

  it("never throws into the caller: a bad value or a failing sink drops the metric", () => {
    const lines: string[] = [];
    const writer = createEmfWriter({ service: "manager", write: (l) => lines.push(l) });
    expect(() => writer.seconds(METRICS.jobTaskRunningSeconds, Number.POSITIVE_INFINITY)).not.toThrow();
    expect(lines).toEqual([]);
    const broken = createEmfWriter({
      service: "manager",
      write: () => {
        throw new Error("EPIPE");
      },
    });
    expect(() => broken.seconds(METRICS.jobTaskRunningSeconds, 1)).not.toThrow();
  });
});
