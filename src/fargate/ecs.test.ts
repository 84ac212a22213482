import { describe, expect, it } from "vitest";
import { awsError } from "../../test/support/fake-ecs.js";
import { batches, isThrottling, taskIdOf, withBackoff } from "./ecs.js";

describe("withBackoff", () => {
  it("retries retryable errors with growing, capped delays, then gives up with the last error", async () => {
    const slept: number[] = [];
    let calls = 0;
    const failing = withBackoff(
      async () => {
        calls++;
        throw awsError("ThrottlingException", `Rate exceeded #${calls}`);
      },
      {
        attempts: 5,
        baseDelayMs: 100,
        maxDelayMs: 300,
        isRetryable: isThrottling,
        random: () => 1,
        sleep: async (ms) => void slept.push(ms),
      },
    );
    await expect(failing).rejects.toThrow("Rate exceeded #5");
    expect(slept).toEqual([100, 200, 300, 300]);
  });

  it("does not retry other errors", async () => {
    let calls = 0;
    const op = async () => {
      calls++;
      throw awsError("ClientException", "bad request");
    };
    await expect(
      withBackoff(op, { attempts: 5, baseDelayMs: 1, maxDelayMs: 1, isRetryable: isThrottling }),
    ).rejects.toThrow("bad request");
    expect(calls).toBe(1);
  });

  it("recognises ECS throttling", () => {
    expect(isThrottling(awsError("ThrottlingException", "Rate exceeded"))).toBe(true);
    expect(
      isThrottling(awsError("ClientException", "Too many concurrent attempts to create a new revision")),
    ).toBe(true);
    expect(isThrottling(awsError("ClientException", "Invalid family"))).toBe(false);
  });
});

describe("small helpers", () => {
  it("batches and task ids", () => {
    expect(batches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(taskIdOf("arn:aws:ecs:eu-west-1:1:task/cluster/abc123")).toBe("abc123");
    expect(taskIdOf("arn:aws:ecs:eu-west-1:1:task/abc123")).toBe("abc123");
  });
});
