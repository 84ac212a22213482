import { describe, expect, it } from "vitest";
import {
  DEFAULT_PRICE_REGION,
  MANAGED_INSTANCES_FEE_FACTOR,
  MANAGED_INSTANCES_PRICES,
  PUBLIC_IPV4_USD_HOUR,
  SPOT_PRICE_FACTOR,
  taskCost,
} from "./cost.js";

const oneVcpu2Gb = { cpu: 1024, memoryMiB: 2048, architecture: "x86_64", capacity: "FARGATE" } as const;

describe("taskCost", () => {
  it("prices an hour of 1 vCPU / 2 GB on-demand x86 in us-east-1 from the table", () => {
    const { usd, priceRegion } = taskCost(oneVcpu2Gb, 3600, "us-east-1");
    expect(priceRegion).toBe("us-east-1");
    expect(usd).toBeCloseTo(0.04048 + 2 * 0.004445, 8);
  });

  it("applies the Spot discount", () => {
    const onDemand = taskCost(oneVcpu2Gb, 1800, "us-east-1").usd;
    const spot = taskCost({ ...oneVcpu2Gb, capacity: "FARGATE_SPOT" }, 1800, "us-east-1").usd;
    expect(spot).toBeCloseTo(onDemand * SPOT_PRICE_FACTOR, 10);
  });

  it("is cheaper on arm64 and dearer in eu-central-1", () => {
    const x86 = taskCost(oneVcpu2Gb, 600, "us-east-1").usd;
    expect(taskCost({ ...oneVcpu2Gb, architecture: "arm64" }, 600, "us-east-1").usd).toBeLessThan(x86);
    expect(taskCost(oneVcpu2Gb, 600, "eu-central-1").usd).toBeGreaterThan(x86);
  });

  it("bills at least one minute, and nothing for zero seconds", () => {
    expect(taskCost(oneVcpu2Gb, 5, "us-east-1").usd).toBeCloseTo(
      taskCost(oneVcpu2Gb, 60, "us-east-1").usd,
      12,
    );
    expect(taskCost(oneVcpu2Gb, 0, "us-east-1").usd).toBe(0);
  });

  it("charges ephemeral storage only beyond the included 20 GiB", () => {
    const base = taskCost({ ...oneVcpu2Gb, ephemeralStorageGiB: 20 }, 3600, "us-east-1").usd;
    const more = taskCost({ ...oneVcpu2Gb, ephemeralStorageGiB: 120 }, 3600, "us-east-1").usd;
    expect(more - base).toBeCloseTo(100 * 0.000111, 8);
  });

  it("falls back to the default region's prices and says so", () => {
    expect(taskCost(oneVcpu2Gb, 60, "xx-nowhere-9").priceRegion).toBe(DEFAULT_PRICE_REGION);
  });

  it("refuses a negative duration", () => {
    expect(() => taskCost(oneVcpu2Gb, -1, "us-east-1")).toThrow(RangeError);
  });

  it("adds the public IPv4 address for the task's run, undiscounted on Spot", () => {
    for (const capacity of ["FARGATE", "FARGATE_SPOT"] as const) {
      const task = { ...oneVcpu2Gb, capacity };
      const without = taskCost(task, 1800, "us-east-1").usd;
      expect(taskCost({ ...task, publicIpv4: true }, 1800, "us-east-1").usd - without).toBeCloseTo(
        0.5 * PUBLIC_IPV4_USD_HOUR,
        10,
      );
    }
  });

  it("prices a Managed Instances job at its share of the instance plus the management fee", () => {
    const prices = MANAGED_INSTANCES_PRICES["us-east-1"]!;
    const task = {
      cpu: 2048,
      memoryMiB: 4096,
      architecture: "x86_64" as const,
      capacity: "MANAGED_INSTANCES" as const,
    };
    const share = 2 * prices.vcpuHour.x86_64 + 4 * prices.gbHour.x86_64;
    expect(taskCost(task, 3600, "us-east-1").usd).toBeCloseTo(share * (1 + MANAGED_INSTANCES_FEE_FACTOR), 10);
    // A GPU costs far more than the vCPUs and memory around it; ephemeral storage is the instance's, not billed apart.
    const gpu = taskCost({ ...task, gpus: 1, ephemeralStorageGiB: 100 }, 3600, "us-east-1").usd;
    expect(gpu).toBeCloseTo((share + prices.gpuHour) * (1 + MANAGED_INSTANCES_FEE_FACTOR), 10);
    expect(taskCost(task, 3600, "eu-central-1").usd).toBeGreaterThan(taskCost(task, 3600, "us-east-1").usd);
    expect(taskCost(task, 3600, "ap-south-1").priceRegion).toBe(DEFAULT_PRICE_REGION);
  });
});
