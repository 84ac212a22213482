import { describe, expect, it } from "vitest";
import { ConfigError } from "../config/load.js";
import { DEFAULT_RUNNER_HOME, DRIVER_EXECUTABLE } from "./paths.js";
import { loadManagerSettings, ManagerStartupError } from "./settings.js";

const baseEnv = {
  SGR_CONFIG: JSON.stringify({
    gitlab: { url: "https://gitlab.example.com" },
    runners: [
      { name: "small", tags: ["a"] },
      { name: "large", tags: ["b"], concurrent: 3 },
    ],
  }),
  SGR_RESOURCES: JSON.stringify({
    eventBusName: "bus",
    stateTableName: "table",
    clusterArn: "cluster",
    subnetIds: ["subnet-1"],
    managerSecurityGroupIds: ["sg-1"],
    managerTaskDefinitions: { small: "td-small", large: "td-large" },
  }),
  SGR_RUNNER_NAME: "large",
  RUNNER_TOKEN: "glrt-secret-value\n",
  AWS_REGION: "eu-central-1",
};

function errorOf(env: Record<string, string | undefined>): Error {
  try {
    loadManagerSettings(env);
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}

describe("manager settings from the environment", () => {
  it("selects the runner configuration this task serves and applies defaults", () => {
    const settings = loadManagerSettings(baseEnv);
    expect(settings.runner.name).toBe("large");
    expect(settings.runner.concurrent).toBe(3);
    expect(settings.token).toBe("glrt-secret-value");
    expect(settings.runnerHome).toBe(DEFAULT_RUNNER_HOME);
    expect(settings.gitlabRunnerBinary).toBe("gitlab-runner");
    expect(settings.driverExecutable).toBe(DRIVER_EXECUTABLE);
    expect(settings.region).toBe("eu-central-1");
    expect(settings.drainPollMs).toBe(10_000);
    expect(settings.heartbeatMs).toBe(30_000);
  });

  it("names the missing or wrong setting", () => {
    expect(errorOf({ ...baseEnv, SGR_CONFIG: undefined })).toBeInstanceOf(ConfigError);
    expect(errorOf({ ...baseEnv, SGR_RESOURCES: "{}" }).message).toMatch(/SGR_RESOURCES/);
    expect(errorOf({ ...baseEnv, SGR_RUNNER_NAME: undefined }).message).toMatch(/SGR_RUNNER_NAME is not set/);
    expect(errorOf({ ...baseEnv, SGR_RUNNER_NAME: "medium" }).message).toMatch(
      /'medium'.*known: small, large/,
    );
    expect(errorOf({ ...baseEnv, RUNNER_TOKEN: "  " })).toBeInstanceOf(ManagerStartupError);
    expect(errorOf({ ...baseEnv, SGR_DRAIN_POLL_MS: "soon" }).message).toMatch(/SGR_DRAIN_POLL_MS/);
    expect(errorOf({ ...baseEnv, SGR_RUNNER_HOME: "relative/dir" }).message).toMatch(/SGR_RUNNER_HOME/);
    expect(errorOf({ ...baseEnv, SGR_DRIVER_EXECUTABLE: "sgr-driver" }).message).toMatch(
      /SGR_DRIVER_EXECUTABLE/,
    );
  });

  it("never puts the token into an error message", () => {
    const err = errorOf({ ...baseEnv, RUNNER_TOKEN: "glrt-has space" });
    expect(err.message).toMatch(/whitespace/);
    expect(err.message).not.toContain("glrt-has");
  });
});
