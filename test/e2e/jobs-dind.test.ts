/**
 * End to end, Docker-in-Docker on ECS Managed Instances: a runner that enables Managed Instances and allows
 * privileged jobs runs a job with `services: [docker:dind]` and DOCKER_HOST as GitLab documents it for the Docker
 * executor (TLS on 2376, client certificates under /certs/client). The job task lands on the Managed Instances
 * capacity provider (waiting for an instance to start), privileged; the job runs `docker build` of the project's
 * multi-stage Dockerfile and `docker run` of the image it built.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registryAddress } from "../../scripts/containers/env.js";
import type { JobImages } from "../../scripts/images/job-images.js";
import { exampleDir } from "../builders/support.js";
import type { SimJob } from "../support/gitlab-sim.js";
import {
  endWorld,
  expectJobTasksStopped,
  jobTasksOf,
  startJobsWorld,
  traceOf,
  WORLD_START_TIMEOUT_MS,
  WORLD_STOP_TIMEOUT_MS,
} from "./jobs-support.js";
import type { World } from "./world/world.js";

const INSTANCE_START_MS = 3_000;

let world: World | undefined;
let images: JobImages;
let dind: SimJob;

beforeAll(async () => {
  const example = (file: string) => readFileSync(join(exampleDir, file), "utf8");
  ({ world, images } = await startJobsWorld({
    repository: { Dockerfile: example("Dockerfile"), "hello.sh": example("hello.sh") },
    managedInstances: { instanceStartMs: INSTANCE_START_MS },
    runner: {
      jobs: {
        defaultImage: "debian:bookworm-slim",
        defaultSize: { cpu: 256, memoryMiB: 512, ephemeralStorageGiB: 21 },
        capacity: "FARGATE",
        architectures: ["x86_64"],
        defaultArchitecture: "x86_64",
        managedInstances: { enabled: true },
        allowPrivileged: true,
      },
    },
  }));
  dind = world.sendJob({
    name: "docker-in-docker",
    image: images.docker.name,
    services: [
      {
        name: images.dind.name,
        // The local registry stands in for Docker Hub (`FROM debian:…`), as a registry mirror is configured.
        command: [`--registry-mirror=http://${registryAddress}`, `--insecure-registry=${registryAddress}`],
      },
    ],
    // As GitLab documents it for the Docker executor with TLS.
    variables: { SGR_PRIVILEGED: "true", DOCKER_HOST: "tcp://docker:2376", DOCKER_TLS_CERTDIR: "/certs" },
    script: [
      "for i in $(seq 1 90); do docker version >/dev/null 2>&1 && break; sleep 1; done",
      'docker version --format "server {{.Server.Version}}"',
      "docker build -t hello-dind .",
      "docker run --rm hello-dind",
    ],
  });
  await world.waitForJob(dind, 900_000);
}, WORLD_START_TIMEOUT_MS);

afterAll(() => endWorld(world), WORLD_STOP_TIMEOUT_MS);

describe("Docker-in-Docker on Managed Instances", () => {
  it("services: [docker:dind] builds the project's Dockerfile and runs the image it built", async () => {
    const trace = traceOf(world!, dind);
    expect(dind.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^server 20\.10\.24/m);
    expect(trace).toMatch(/^Step \d\/\d+ : RUN chmod 755 hello\.sh/m);
    expect(trace).toMatch(/^Successfully tagged hello-dind:latest$/m);
    expect(trace).toMatch(/^hello as uid 10001, built on x86_64 by a RUN step$/m);
  });

  it("ran one privileged task on the Managed Instances capacity provider, after an instance start", async () => {
    const provider = world!.deployed.managerResources.managedInstancesCapacityProvider;
    const [task, ...others] = jobTasksOf(world!, dind);
    expect(others).toEqual([]);
    expect(task?.task.capacityProviderName).toBe(provider);
    expect(traceOf(world!, dind)).toMatch(/Starting job task.*privileged/);
    const started = task!.reachedAt;
    expect((started.PENDING ?? 0) - (started.PROVISIONING ?? 0)).toBeGreaterThanOrEqual(INSTANCE_START_MS);
    await expectJobTasksStopped(world!, dind);
  });
});
