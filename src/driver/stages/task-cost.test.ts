import { describe, expect, it } from "vitest";
import type { EmfProperties, EmfWriter } from "../../observability/emf.js";
import { METRICS } from "../../observability/metric-names.js";
import type { JobTaskUsage } from "./context.js";
import { emitJobTaskCost, priceRegionFromEnv } from "./task-cost.js";

function recorder() {
  const emitted: { unit: string; name: string; value: number; properties?: EmfProperties }[] = [];
  const metrics: EmfWriter = {
    seconds: (name, value, properties) => emitted.push({ unit: "Seconds", name, value, properties }),
    usd: (name, value, properties) => emitted.push({ unit: "None", name, value, properties }),
  };
  return { emitted, ctx: { metrics, log: () => {} } };
}

const identity = { runnerName: "r", projectId: "7", jobId: "123", managerTaskId: "m" };
const usage = (capacity: "FARGATE" | "FARGATE_SPOT"): JobTaskUsage => ({
  task: { cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 20, architecture: "x86_64", capacity },
  startedAtMs: 1_000_000,
});

describe("job task cost at cleanup", () => {
  it("prices the task's real size × run time with the region's on-demand list price", () => {
    const { emitted, ctx } = recorder();
    // 2 vCPU, 4 GB for 10 minutes in us-east-1: (2 × 0.04048 + 4 × 0.004445) / 6 = 0.0164566… USD.
    const usd = emitJobTaskCost(ctx, { identity, usage: usage("FARGATE") }, 1_000_000 + 600_000, "us-east-1");
    expect(usd).toBeCloseTo(0.0164566667, 9);
    expect(emitted).toEqual([
      expect.objectContaining({ unit: "Seconds", name: METRICS.jobTaskSeconds, value: 600 }),
      expect.objectContaining({ unit: "None", name: METRICS.jobTaskCostUsd, value: usd }),
    ]);
    expect(emitted[1]?.properties).toMatchObject({
      jobId: "123",
      capacity: "FARGATE",
      priceRegion: "us-east-1",
    });
  });

  it("prices Spot at the Spot discount", () => {
    const spot = emitJobTaskCost(
      recorder().ctx,
      { identity, usage: usage("FARGATE_SPOT") },
      1_600_000,
      "us-east-1",
    );
    const onDemand = emitJobTaskCost(
      recorder().ctx,
      { identity, usage: usage("FARGATE") },
      1_600_000,
      "us-east-1",
    );
    expect(spot).toBeCloseTo((onDemand ?? 0) * 0.3, 12);
  });

  it("emits once per job, however often cleanup runs", () => {
    const { emitted, ctx } = recorder();
    const job = { identity, usage: usage("FARGATE") };
    expect(emitJobTaskCost(ctx, job, 1_100_000, "eu-central-1")).toBeGreaterThan(0);
    expect(emitJobTaskCost(ctx, job, 1_200_000, "eu-central-1")).toBeUndefined();
    expect(emitted.filter((m) => m.name === METRICS.jobTaskCostUsd)).toHaveLength(1);
  });

  it("emits nothing for a job whose usage is unknown (recovered after a daemon restart)", () => {
    const { emitted, ctx } = recorder();
    expect(emitJobTaskCost(ctx, { identity }, 2_000_000, "us-east-1")).toBeUndefined();
    expect(emitted).toEqual([]);
  });

  it("takes the region from AWS_REGION, then AWS_DEFAULT_REGION", () => {
    expect(priceRegionFromEnv({ AWS_REGION: "eu-central-1", AWS_DEFAULT_REGION: "us-west-2" })).toBe(
      "eu-central-1",
    );
    expect(priceRegionFromEnv({ AWS_DEFAULT_REGION: "us-west-2" })).toBe("us-west-2");
    expect(priceRegionFromEnv({})).toBe("us-east-1");
  });
});
