import { describe, expect, it } from "vitest";
import type { JobTaskShape } from "../../backend.js";
import { type JobTaskDefinitionSettings, jobTaskDefinitionRequest } from "./layout.js";

const settings: JobTaskDefinitionSettings = {
  region: "eu-west-1",
  logGroupName: "/sgr/jobs",
  executionRoleArn: "arn:aws:iam::123456789012:role/exec",
};

function shape(overrides: Partial<JobTaskShape> = {}): JobTaskShape {
  return {
    build: { name: "build", image: "docker:27", environment: { DOCKER_HOST: "tcp://docker:2376" } },
    services: [
      { name: "svc-0", image: "docker:27-dind", aliases: ["docker"] },
      { name: "svc-1", image: "postgres:17" },
    ],
    architecture: "x86_64",
    helperImage: "helper:1",
    ...overrides,
  };
}

const container = (input: ReturnType<typeof jobTaskDefinitionRequest>["input"], name: string) =>
  input.containerDefinitions?.find((c) => c.name === name);

describe("job task definition on Managed Instances", () => {
  it("stays a Fargate definition without a Managed Instances placement", () => {
    const { input } = jobTaskDefinitionRequest(shape(), settings);
    expect(input.requiresCompatibilities).toEqual(["FARGATE"]);
    expect(input.containerDefinitions?.some((c) => c.privileged)).toBe(false);
    expect(input.volumes?.map((v) => v.name)).toEqual(["builds", "sgr"]);
  });

  it("runs build and services privileged, shares the dind certificates, keeps the helper unprivileged", () => {
    const { input } = jobTaskDefinitionRequest(
      shape({ managedInstances: { privileged: true, gpus: 0 } }),
      settings,
    );
    expect(input.requiresCompatibilities).toEqual(["MANAGED_INSTANCES"]);
    expect(input.networkMode).toBe("awsvpc");
    expect(container(input, "helper")?.privileged).toBeUndefined();
    expect(container(input, "build")?.privileged).toBe(true);
    expect(container(input, "svc-0")?.privileged).toBe(true);
    expect(container(input, "svc-1")?.privileged).toBe(true);
    expect(input.volumes?.map((v) => v.name)).toEqual(["builds", "sgr", "docker-certs"]);
    const certs = { sourceVolume: "docker-certs", containerPath: "/certs/client", readOnly: false };
    expect(container(input, "build")?.mountPoints).toContainEqual(certs);
    expect(container(input, "svc-0")?.mountPoints).toContainEqual(certs);
    expect(container(input, "svc-1")?.mountPoints ?? []).not.toContainEqual(certs);
    expect(container(input, "build")?.resourceRequirements).toBeUndefined();
  });

  it("reserves GPUs for the build container only", () => {
    const { input } = jobTaskDefinitionRequest(
      shape({ services: [], managedInstances: { privileged: false, gpus: 2 } }),
      settings,
    );
    expect(container(input, "build")?.resourceRequirements).toEqual([{ type: "GPU", value: "2" }]);
    expect(container(input, "build")?.privileged).toBeUndefined();
    expect(container(input, "helper")?.resourceRequirements).toBeUndefined();
  });

  it("gives every placement its own family", () => {
    const families = [
      undefined,
      { privileged: false, gpus: 0 },
      { privileged: true, gpus: 0 },
      { privileged: true, gpus: 1 },
    ].map((managedInstances) => jobTaskDefinitionRequest(shape({ managedInstances }), settings).family);
    expect(new Set(families).size).toBe(4);
  });
});
