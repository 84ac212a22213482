import { describe, expect, it } from "vitest";
import { jobSettingsSchema } from "../config/schema.js";
import {
  fargateCombinations,
  type JobCaps,
  parseCpu,
  parseMemoryMiB,
  resolveSettings,
  toFargateCombination,
} from "./sizing.js";

const caps: JobCaps = jobSettingsSchema.parse({}); // default 1 vCPU/2 GiB/21 GiB, max 4 vCPU/16 GiB/100 GiB

describe("parsing size values", () => {
  it("reads vCPU, millicpu and cpu units", () => {
    expect(parseCpu("2")).toBe(2048);
    expect(parseCpu("0.5")).toBe(512);
    expect(parseCpu("250m")).toBe(256);
    expect(parseCpu("1024")).toBe(1024);
    expect(parseCpu("two")).toBeUndefined();
    expect(parseCpu("0")).toBeUndefined();
  });
  it("reads MiB and GiB", () => {
    expect(parseMemoryMiB("4096")).toBe(4096);
    expect(parseMemoryMiB("4Gi")).toBe(4096);
    expect(parseMemoryMiB("512M")).toBe(512);
    expect(parseMemoryMiB("1.5G")).toBe(1536);
    expect(parseMemoryMiB("lots")).toBeUndefined();
  });
});

describe("Fargate combinations", () => {
  it("lists the documented pairs", () => {
    expect(fargateCombinations).toContainEqual({ cpu: 256, memoryMiB: 512 });
    expect(fargateCombinations).not.toContainEqual({ cpu: 256, memoryMiB: 1536 });
    expect(fargateCombinations).toContainEqual({ cpu: 4096, memoryMiB: 30720 });
    expect(fargateCombinations).toContainEqual({ cpu: 16384, memoryMiB: 122880 });
    expect(fargateCombinations).not.toContainEqual({ cpu: 8192, memoryMiB: 18432 });
  });
  it("rounds a request up to the smallest valid pair", () => {
    const big = { cpu: 16384, memoryMiB: 122880 };
    expect(toFargateCombination(1024, 1000, big)).toEqual({ cpu: 1024, memoryMiB: 2048 });
    expect(toFargateCombination(300, 512, big)).toEqual({ cpu: 512, memoryMiB: 1024 });
    expect(toFargateCombination(256, 9000, big)).toEqual({ cpu: 2048, memoryMiB: 9216 });
    expect(toFargateCombination(8192, 17000, big)).toEqual({ cpu: 8192, memoryMiB: 20480 });
  });
  it("stays within caps that are not themselves a valid pair, keeping the memory", () => {
    expect(toFargateCombination(4096, 4096, { cpu: 4096, memoryMiB: 4096 })).toEqual({
      cpu: 2048,
      memoryMiB: 4096,
    });
  });
});

describe("resolving a job's settings", () => {
  it("uses the runner defaults when the job asks for nothing", () => {
    expect(resolveSettings({}, caps)).toEqual({
      size: { cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 21 },
      capacity: "FARGATE_SPOT",
      architecture: "x86_64",
      warnings: [],
    });
  });
  it("honours requests within the caps", () => {
    const r = resolveSettings(
      { cpu: "2", memory: "8Gi", ephemeralStorage: "50", capacity: "on-demand", architecture: "arm64" },
      caps,
    );
    expect(r).toEqual({
      size: { cpu: 2048, memoryMiB: 8192, ephemeralStorageGiB: 50 },
      capacity: "FARGATE",
      architecture: "arm64",
      warnings: [],
    });
  });
  it("clamps values above the caps to the caps, with a warning each", () => {
    const r = resolveSettings({ cpu: "16", memory: "64Gi", ephemeralStorage: "500" }, caps);
    expect(r.size).toEqual({ cpu: 4096, memoryMiB: 16384, ephemeralStorageGiB: 100 });
    expect(r.warnings).toEqual([
      "SGR_CPU=16 is above this runner's maximum (4 vCPU); using 4 vCPU",
      "SGR_MEMORY=64Gi is above this runner's maximum (16384 MiB); using 16384 MiB",
      "SGR_EPHEMERAL_STORAGE=500 is above this runner's maximum (100 GiB); using 100 GiB",
    ]);
  });
  it("falls back to the default for invalid values, with a warning", () => {
    const r = resolveSettings({ cpu: "fast", capacity: "cheap", architecture: "riscv" }, caps);
    expect(r.size.cpu).toBe(1024);
    expect(r.capacity).toBe("FARGATE_SPOT");
    expect(r.architecture).toBe("x86_64");
    expect(r.warnings).toHaveLength(3);
    expect(r.warnings[0]).toContain('SGR_CPU="fast" is not a valid value');
  });
  it("warns when it rounds to a valid Fargate pair", () => {
    const r = resolveSettings({ cpu: "4", memory: "4096" }, caps);
    expect(r.size).toMatchObject({ cpu: 4096, memoryMiB: 8192 });
    expect(r.warnings).toEqual(["4 vCPU / 4096 MiB is not a Fargate size; using 4 vCPU / 8192 MiB"]);
  });
  it("refuses a capacity change when the runner does not allow it", () => {
    const r = resolveSettings({ capacity: "on-demand" }, { ...caps, allowCapacityOverride: false });
    expect(r.capacity).toBe("FARGATE_SPOT");
    expect(r.warnings[0]).toContain("not allowed");
  });
  it("takes the architecture from the image platform, and refuses one the runner does not offer", () => {
    expect(resolveSettings({ platform: "linux/arm64" }, caps).architecture).toBe("arm64");
    const only = resolveSettings({ architecture: "arm64" }, { ...caps, architectures: ["x86_64"] });
    expect(only.architecture).toBe("x86_64");
    expect(only.warnings[0]).toContain("not offered by this runner");
  });
  it("runs every arm64 job on on-demand FARGATE, saying so, whatever capacity it or the runner chose", () => {
    for (const request of [
      { architecture: "arm64" },
      { platform: "linux/arm64" },
      { architecture: "arm64", capacity: "spot" },
    ]) {
      const r = resolveSettings(request, caps);
      expect(r).toMatchObject({ architecture: "arm64", capacity: "FARGATE" });
      expect(r.warnings).toEqual([
        "Fargate Spot does not run arm64 tasks; this arm64 job runs on on-demand FARGATE",
      ]);
    }
    const armByDefault = resolveSettings(
      {},
      { ...caps, defaultArchitecture: "arm64", allowCapacityOverride: false },
    );
    expect(armByDefault.capacity).toBe("FARGATE");
    expect(resolveSettings({ architecture: "x86_64" }, caps)).toMatchObject({
      capacity: "FARGATE_SPOT",
      warnings: [],
    });
  });
});
