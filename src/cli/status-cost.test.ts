import { describe, expect, it } from "vitest";
import { parseConfig, type RunnerConfig } from "../config/index.js";
import { taskCost } from "../observability/cost.js";
import { JOB_SK, type JobItem } from "../state/table.js";
import { jobStatus } from "./status.js";

const runner = parseConfig({
  gitlab: { url: "https://gitlab.example.com" },
  runners: [{ name: "status-cost", tags: ["fargate"] }],
}).runners[0] as RunnerConfig;

const job: JobItem = {
  pk: "JOB#1#2",
  sk: JOB_SK,
  projectId: 1,
  jobId: 2,
  status: "success",
  statusRank: 3,
  runningSeenAt: 1_000_000,
  finishedSeenAt: 1_000_000 + 300_000,
  updatedAt: 1_300_000,
  ttl: 0,
};

describe("sgr status job cost basis", () => {
  it("prices a job at the size the driver recorded, and says so", () => {
    const status = jobStatus(
      {
        ...job,
        taskCpu: 4096,
        taskMemoryMiB: 16384,
        taskEphemeralStorageGiB: 50,
        taskArchitecture: "arm64",
        taskCapacity: "FARGATE",
      },
      runner,
      "us-east-1",
    );
    expect(status.costBasis).toBe("actual");
    expect(status.estimatedCostUsd).toBeCloseTo(
      taskCost(
        { cpu: 4096, memoryMiB: 16384, ephemeralStorageGiB: 50, architecture: "arm64", capacity: "FARGATE" },
        300,
        "us-east-1",
      ).usd,
      12,
    );
  });

  it("falls back to the runner's default job size without (or with incomplete) recorded size", () => {
    const fallback = taskCost(
      {
        ...runner.jobs.defaultSize,
        architecture: runner.jobs.defaultArchitecture,
        capacity: runner.jobs.capacity,
      },
      300,
      "us-east-1",
    ).usd;
    for (const record of [
      job,
      { ...job, taskCpu: 4096, taskArchitecture: "sparc", taskCapacity: "FARGATE" },
    ]) {
      const status = jobStatus(record, runner, "us-east-1");
      expect(status.costBasis).toBe("default-size");
      expect(status.estimatedCostUsd).toBeCloseTo(fallback, 12);
    }
    // The recorded size is not the default: the two bases give different amounts.
    const actual = jobStatus(
      { ...job, taskCpu: 4096, taskMemoryMiB: 8192, taskArchitecture: "x86_64", taskCapacity: "FARGATE" },
      runner,
      "us-east-1",
    );
    expect(actual.estimatedCostUsd).not.toBeCloseTo(fallback, 6);
  });
});
