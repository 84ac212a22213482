import { describe, expect, it } from "vitest";
import type { JobSpec } from "../job-spec.js";
import { placeJob, placementNote } from "./job-placement.js";

const spec: JobSpec = {
  jobId: "1",
  projectId: "2",
  build: { name: "build", image: "docker:27" },
  services: [{ name: "svc-0", image: "docker:27-dind", aliases: ["docker"], ports: [] }],
  credentials: [],
  sizeRequest: { cpu: "2", capacity: "managed-instances" },
  warnings: ["from the payload"],
};
const caps = { managedInstances: { enabled: true, maxGpus: 1 }, allowPrivileged: true };

describe("placing a job", () => {
  it("puts a dind job on Managed Instances: wired containers, no Fargate capacity left for sizing", () => {
    const placed = placeJob(spec, { CUSTOM_ENV_DOCKER_TLS_CERTDIR: "" }, caps);
    expect(placed.placement).toMatchObject({ managedInstances: true, privileged: true, gpus: 0 });
    expect(placed.sizeRequest).toEqual({ cpu: "2", capacity: undefined });
    expect(placed.build.environment).toEqual({ DOCKER_HOST: "tcp://docker:2375" });
    expect(placed.services[0]?.environment).toEqual({ DOCKER_TLS_CERTDIR: "" });
    expect(placed.warnings).toEqual(["from the payload"]);
    expect(placementNote(placed.placement)).toBe(", privileged");
  });

  it("leaves a Fargate job as it was", () => {
    const plain = { ...spec, services: [], sizeRequest: { capacity: "spot" } };
    const placed = placeJob(plain, { CUSTOM_ENV_SGR_GPU: "0" }, caps);
    expect(placed).toMatchObject({ build: plain.build, sizeRequest: { capacity: "spot" } });
    expect(placed.placement.managedInstances).toBe(false);
    expect(placementNote(placeJob(plain, { CUSTOM_ENV_SGR_GPU: "1" }, caps).placement)).toBe(", 1 GPU");
  });
});
