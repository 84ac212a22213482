import { describe, expect, it } from "vitest";
import {
  isDindService,
  isManagedInstancesCapacity,
  type PlacementCaps,
  PlacementRefusedError,
  placementRequestFrom,
  resolvePlacement,
} from "./placement.js";

const fargateOnly: PlacementCaps = {
  managedInstances: { enabled: false, maxGpus: 0 },
  allowPrivileged: false,
};
const managed: PlacementCaps = { managedInstances: { enabled: true, maxGpus: 0 }, allowPrivileged: false };
const privileged: PlacementCaps = { managedInstances: { enabled: true, maxGpus: 2 }, allowPrivileged: true };

describe("Docker-in-Docker services", () => {
  it.each([
    "docker:dind",
    "docker:27-dind",
    "docker:27.3.1-dind-alpine3.20",
    "docker:dind-rootless",
    "registry.example.test/library/docker:dind",
    "docker:dind@sha256:0123",
  ])("%s is one", (image) => expect(isDindService(image)).toBe(true));

  it.each(["docker:27", "docker:cli", "postgres:17", "mydind:latest", "docker", "dind:1"])(
    "%s is not",
    (image) => expect(isDindService(image)).toBe(false),
  );
});

describe("placement of a job", () => {
  it("leaves a job that asks for nothing on Fargate", () => {
    expect(resolvePlacement({}, privileged)).toEqual({
      managedInstances: false,
      privileged: false,
      gpus: 0,
      warnings: [],
    });
  });

  it("refuses a privileged job on a runner that does not allow it, naming the setting", () => {
    expect(() => resolvePlacement({ privileged: "true" }, managed)).toThrow(PlacementRefusedError);
    expect(() => resolvePlacement({ privileged: "true" }, fargateOnly)).toThrow(
      /needs a privileged container \(SGR_PRIVILEGED=true\).*jobs\.allowPrivileged is false/,
    );
  });

  it("counts a docker:dind service as a privileged request", () => {
    expect(() => resolvePlacement({ serviceImages: ["docker:27-dind"] }, managed)).toThrow(
      /the service docker:27-dind \(Docker-in-Docker needs a privileged container\)/,
    );
    expect(resolvePlacement({ serviceImages: ["docker:27-dind"] }, privileged)).toMatchObject({
      managedInstances: true,
      privileged: true,
    });
  });

  it("puts a privileged job on Managed Instances where allowed", () => {
    expect(resolvePlacement({ privileged: "yes" }, privileged)).toEqual({
      managedInstances: true,
      privileged: true,
      gpus: 0,
      warnings: [],
    });
  });

  it("warns about an unreadable SGR_PRIVILEGED and runs unprivileged", () => {
    const placement = resolvePlacement({ privileged: "maybe" }, privileged);
    expect(placement.privileged).toBe(false);
    expect(placement.warnings).toEqual([
      expect.stringMatching(/SGR_PRIVILEGED="maybe" is not true or false/),
    ]);
  });

  it("gives GPUs up to the runner's maximum, on Managed Instances", () => {
    expect(resolvePlacement({ gpu: "1" }, privileged)).toMatchObject({ managedInstances: true, gpus: 1 });
    const capped = resolvePlacement({ gpu: "4" }, privileged);
    expect(capped.gpus).toBe(2);
    expect(capped.warnings).toEqual(["SGR_GPU=4 is above this runner's maximum (2); using 2"]);
    expect(resolvePlacement({ gpu: "0" }, privileged).managedInstances).toBe(false);
  });

  it("refuses GPUs on a runner without any, and a GPU count that is not a number", () => {
    expect(() => resolvePlacement({ gpu: "1" }, managed)).toThrow(/offers none.*maxGpus is 0/);
    expect(() => resolvePlacement({ gpu: "one" }, privileged)).toThrow(/SGR_GPU="one" is not a whole number/);
  });

  it("honours SGR_CAPACITY=managed-instances where offered, else warns and stays on Fargate", () => {
    expect(resolvePlacement({ capacity: "MANAGED_INSTANCES" }, managed).managedInstances).toBe(true);
    const refused = resolvePlacement({ capacity: "managed-instances" }, fargateOnly);
    expect(refused.managedInstances).toBe(false);
    expect(refused.warnings).toEqual([expect.stringMatching(/not offered by this runner.*using Fargate/)]);
  });

  it("reads Managed Instances names only; spot and on-demand are sizing's", () => {
    expect(["managed-instances", "MANAGED_INSTANCES", " mi "].every(isManagedInstancesCapacity)).toBe(true);
    expect(["spot", "on-demand", "", undefined].some(isManagedInstancesCapacity)).toBe(false);
  });

  it("reads its request from the job's CI variables", () => {
    expect(
      placementRequestFrom(
        { CUSTOM_ENV_SGR_CAPACITY: "mi", CUSTOM_ENV_SGR_PRIVILEGED: "true", CUSTOM_ENV_SGR_GPU: "1" },
        ["docker:dind"],
      ),
    ).toEqual({ capacity: "mi", privileged: "true", gpu: "1", serviceImages: ["docker:dind"] });
  });
});
