import { describe, expect, it } from "vitest";
import type { JobTaskRecipe } from "../../fargate/speculative-task.js";
import { METRICS } from "../../observability/metric-names.js";
import type { JobShapeKey } from "../../state/job-shapes.js";
import { emitSpeculativeMetrics, recordRecipe } from "./speculative.js";

const identity = { runnerName: "default", projectId: "7", jobId: "42", managerTaskId: "m" };
const recipe = { taskDefinitionArn: "td:1", cpu: 1024, memoryMiB: 2048 } as JobTaskRecipe;

function recorder() {
  const metrics: { name: string; value?: number; properties?: Record<string, unknown> }[] = [];
  const recorded: { key: JobShapeKey; ttlMs: number }[] = [];
  const ctx = {
    log: () => {},
    metrics: {
      seconds: () => {},
      count: (name: string, properties?: Record<string, unknown>) => metrics.push({ name, properties }),
      usd: (name: string, value: number, properties?: Record<string, unknown>) =>
        metrics.push({ name, value, properties }),
    },
    onJobRecipe: async (key: JobShapeKey, _recipe: JobTaskRecipe, ttlMs: number) => {
      recorded.push({ key, ttlMs });
    },
  };
  return { ctx, metrics, recorded };
}

describe("speculative start, prepare's part", () => {
  it("counts a hit, and prices a miss at the size and capacity the replaced task ran with", () => {
    const r = recorder();
    emitSpeculativeMetrics(r.ctx, identity, { outcome: "adopted", taskId: "t1" });
    emitSpeculativeMetrics(
      r.ctx,
      identity,
      {
        outcome: "replaced",
        taskId: "t2",
        reason: "sgr: speculative job task not adopted: its size is …",
        task: { cpu: 1024, memoryMiB: 2048, architecture: "x86_64", capacity: "FARGATE" },
        seconds: 120,
      },
      "us-east-1",
    );
    expect(r.metrics.map((m) => m.name)).toEqual([
      METRICS.speculativeJobTaskAdopted,
      METRICS.speculativeJobTaskReplaced,
      METRICS.speculativeJobTaskReplacedCostUsd,
    ]);
    // 1 vCPU / 2 GB on-demand for 2 minutes: (0.04048 + 2 × 0.004445) / 30.
    expect(r.metrics[2]!.value).toBeCloseTo((0.04048 + 2 * 0.004445) / 30, 6);
  });

  it("records the recipe under the job's name, only when the switch is on and the job has a name", async () => {
    const r = recorder();
    const on = { speculativeStart: { enabled: true, shapeTtlDays: 14 } };
    recordRecipe(r.ctx, on, identity, "test", { recipe });
    recordRecipe(r.ctx, { speculativeStart: { enabled: false, shapeTtlDays: 14 } }, identity, "test", {
      recipe,
    });
    recordRecipe(r.ctx, on, identity, undefined, { recipe });
    recordRecipe(r.ctx, on, identity, "test", {});
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.recorded).toEqual([
      { key: { runnerName: "default", projectId: 7, jobName: "test" }, ttlMs: 14 * 24 * 3600 * 1000 },
    ]);
  });
});
