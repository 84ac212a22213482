import { describe, expect, it } from "vitest";
import { fargateSizeProblem } from "./sizes.js";

describe("fargateSizeProblem", () => {
  it("names what Fargate would accept for an invalid size", () => {
    expect(fargateSizeProblem({ cpu: 1024, memoryMiB: 4096, ephemeralStorageGiB: 21 })).toBeUndefined();
    expect(fargateSizeProblem({ cpu: 256, memoryMiB: 512, ephemeralStorageGiB: 20 })).toBeUndefined();
    expect(fargateSizeProblem({ cpu: 1000, memoryMiB: 2048, ephemeralStorageGiB: 21 })).toMatch(
      /does not offer 1000 CPU units/,
    );
    expect(fargateSizeProblem({ cpu: 4096, memoryMiB: 4096, ephemeralStorageGiB: 21 })).toMatch(/8192, 9216/);
    expect(fargateSizeProblem({ cpu: 512, memoryMiB: 1024, ephemeralStorageGiB: 201 })).toMatch(/21–200 GiB/);
  });
});
