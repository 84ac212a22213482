import { describe, expect, it } from "vitest";
import { elapsedSeconds, jobStartMs } from "./phase-timing.js";

describe("jobStartMs", () => {
  it("reads GitLab's CI_JOB_STARTED_AT (ISO 8601)", () => {
    expect(jobStartMs("2026-11-27T21:00:05Z", 1)).toBe(Date.UTC(2026, 10, 27, 21, 0, 5));
    expect(jobStartMs("2026-11-27T22:00:05+01:00", 1)).toBe(Date.UTC(2026, 10, 27, 21, 0, 5));
  });

  it("falls back to the given start (prepare's) when the variable is absent or unreadable", () => {
    expect(jobStartMs(undefined, 1234)).toBe(1234);
    expect(jobStartMs("", 1234)).toBe(1234);
    expect(jobStartMs("yesterday-ish", 1234)).toBe(1234);
  });
});

describe("elapsedSeconds", () => {
  it("is the difference in seconds, with ms precision", () => {
    expect(elapsedSeconds(10_000, 12_345)).toBe(2.345);
  });

  it("counts a little clock skew (second-truncated start times) as zero", () => {
    expect(elapsedSeconds(12_000, 11_500)).toBe(0);
  });

  it("has no value for a start far in the future or no usable start", () => {
    expect(elapsedSeconds(20_000, 10_000)).toBeUndefined();
    expect(elapsedSeconds(undefined, 10_000)).toBeUndefined();
    expect(elapsedSeconds(Number.NaN, 10_000)).toBeUndefined();
    expect(elapsedSeconds(0, 10_000)).toBeUndefined();
  });
});
