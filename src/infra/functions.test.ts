import { App, Stack } from "aws-cdk-lib";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { describe, expect, it } from "vitest";
import { estimateEnvironmentBytes, lambdaRuntime } from "./functions.js";

describe("Lambda environment size estimate", () => {
  it("counts literal text exactly and every reference at 110 characters", () => {
    const stack = new Stack(new App(), "S");
    const queue = new sqs.Queue(stack, "Q");
    const literal = { A: "12345" };
    expect(estimateEnvironmentBytes(stack, literal)).toBe(1 + JSON.stringify("12345").length);
    const withRefs = { B: stack.toJsonString({ url: queue.queueUrl, arn: queue.queueArn }) };
    const estimate = estimateEnvironmentBytes(stack, withRefs);
    // Two references at 110 each, plus the JSON around them.
    expect(estimate).toBeGreaterThanOrEqual(1 + 2 * 110);
    expect(estimate).toBeLessThan(1 + 2 * 110 + 120);
  });
});

describe("Lambda runtime", () => {
  it("maps the pinned Node major to a CDK runtime and refuses one CDK does not know", () => {
    expect(lambdaRuntime(24).name).toBe("nodejs24.x");
    expect(() => lambdaRuntime(99)).toThrow(/no Lambda runtime nodejs99\.x/);
  });
});
