import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { appOptions, DEFAULT_STACK_NAME } from "./app-options.js";

const context = (values: Record<string, unknown>) => (key: string) => values[key];

describe("CDK app options from context", () => {
  it("has defaults for everything", () => {
    expect(appOptions(context({}), {})).toEqual({
      configPath: resolve("config/runner.json"),
      stackName: DEFAULT_STACK_NAME,
      retainData: true,
      jobImageRepositories: undefined,
      jobImagePushRepositories: undefined,
      serializeScheduler: false,
      webhookReservedConcurrency: undefined,
    });
  });

  it("reads -c values as the CLI passes them (strings) and as cdk.json holds them (JSON)", () => {
    const fromCli = appOptions(
      context({
        config: "c.json",
        stackName: "Ci-Runners",
        retainData: "false",
        jobImageRepositories: "a/b, c",
        jobImagePushRepositories: "team/app",
        serializeScheduler: "true",
        webhookReservedConcurrency: "10",
      }),
      {},
    );
    expect(fromCli).toEqual({
      configPath: resolve("c.json"),
      stackName: "Ci-Runners",
      retainData: false,
      jobImageRepositories: ["a/b", "c"],
      jobImagePushRepositories: ["team/app"],
      serializeScheduler: true,
      webhookReservedConcurrency: 10,
    });
    const fromJson = appOptions(
      context({ retainData: false, jobImageRepositories: ["x"], serializeScheduler: true }),
      {},
    );
    expect(fromJson).toMatchObject({
      retainData: false,
      jobImageRepositories: ["x"],
      serializeScheduler: true,
    });
  });

  it("refuses a webhook reservation that is not a whole number", () => {
    expect(() => appOptions(context({ webhookReservedConcurrency: "ten" }), {})).toThrow(
      /context 'webhookReservedConcurrency' must be a whole number/,
    );
  });

  it("refuses a stack name CloudFormation would refuse", () => {
    expect(() => appOptions(context({ stackName: "has space" }), {})).toThrow(/context 'stackName'/);
    expect(() => appOptions(context({ stackName: "1abc" }), {})).toThrow(/context 'stackName'/);
  });
});
