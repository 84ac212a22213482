import { describe, expect, it } from "vitest";
import { isCapacityUnavailable } from "./run-task.js";

const CAPACITY =
  "Capacity is unavailable at this time. Please try again later or in a different availability zone";
describe("capacity error matching", () => {
  it("recognises the documented capacity messages only", () => {
    expect(isCapacityUnavailable(CAPACITY)).toBe(true);
    expect(isCapacityUnavailable(new Error("Capacity is unavailable at this time."))).toBe(true);
    expect(isCapacityUnavailable("MISSING")).toBe(false);
    expect(isCapacityUnavailable(new Error("AccessDeniedException"))).toBe(false);
  });
});

describe("isCapacityUnavailable", () => {
  it("recognises ECS's capacity messages and nothing else", () => {
    expect(isCapacityUnavailable("Capacity is unavailable at this time. Please try again later")).toBe(true);
    expect(isCapacityUnavailable("RESOURCE:MEMORY")).toBe(false);
    expect(isCapacityUnavailable("CannotPullContainerError")).toBe(false);
    expect(isCapacityUnavailable(undefined)).toBe(false);
  });
});
