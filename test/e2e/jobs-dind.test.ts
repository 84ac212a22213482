/**
 * End to end, Docker-in-Docker on ECS Managed Instances: a runner that enables Managed Instances and allows
 * privileged jobs runs a job with `services: [docker:dind]` and DOCKER_HOST as GitLab documents it for the Docker
 * executor (TLS on 2376, client certificates under /certs/client). The job task lands on the Managed Instances
 * capacity provider (waiting for an instance to start), privileged; the job runs `docker build` of the project's
 * multi-stage Dockerfile and `docker run` of the image it built; the manager prices the job's task as its share of
 * the instance (JobTaskCostUsd at Managed Instances rates).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { registryAddress } from "../../scripts/containers/env.js";
import { taskCost } from "../../src/observability/cost.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { exampleDir } from "../builders/support.js";
import type { SimJob } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { managerLogLines } from "./world/diagnostics.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

const INSTANCE_START_MS = 3_000;

let dind: SimJob;
let plainDind: SimJob;

const example = (file: string) => readFileSync(join(exampleDir, file), "utf8");
const jobs = useJobsWorld({
  repository: { Dockerfile: example("Dockerfile"), "hello.sh": example("hello.sh") },
  managedInstances: { instanceStartMs: INSTANCE_START_MS },
  runner: {
    jobs: { managedInstances: { enabled: true }, allowPrivileged: true },
  },
});

beforeAll(async () => {
  const { world, images } = jobs;
  const dindService = {
    name: images.dind.name,
    // The local registry stands in for Docker Hub (`FROM debian:…`), as a registry mirror is configured.
    command: [`--registry-mirror=http://${registryAddress}`, `--insecure-registry=${registryAddress}`],
  };
  const waitForDaemon = "for i in $(seq 1 90); do docker version >/dev/null 2>&1 && break; sleep 1; done";
  dind = world.sendJob({
    name: "docker-in-docker",
    image: images.docker.name,
    services: [dindService],
    // As GitLab documents it for the Docker executor with TLS.
    variables: { SGR_PRIVILEGED: "true", DOCKER_HOST: "tcp://docker:2376", DOCKER_TLS_CERTDIR: "/certs" },
    script: [
      waitForDaemon,
      'docker version --format "server {{.Server.Version}}"',
      "docker build -t hello-dind .",
      "docker run --rm hello-dind",
    ],
  });
  // Without TLS, and privileged for its dind service alone: the driver sets DOCKER_HOST, and the job's
  // DOCKER_TLS_CERTDIR reaches the service.
  plainDind = world.sendJob({
    name: "docker-in-docker-without-tls",
    image: images.docker.name,
    services: [dindService],
    variables: { DOCKER_TLS_CERTDIR: "" },
    script: [
      waitForDaemon,
      'echo "DOCKER_HOST=$DOCKER_HOST"',
      "docker run --rm debian:bookworm-slim cat /etc/debian_version",
    ],
  });
  await Promise.all([dind, plainDind].map((job) => jobs.world.waitForJob(job, 900_000)));
}, WORLD_START_TIMEOUT_MS);

describe("Docker-in-Docker on Managed Instances", () => {
  it("services: [docker:dind] builds the project's Dockerfile and runs the image it built", async () => {
    const trace = plainTrace(jobs.world, dind);
    expect(dind.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^server 20\.10\.24/m);
    expect(trace).toMatch(/^Step \d\/\d+ : RUN chmod 755 hello\.sh/m);
    expect(trace).toMatch(/^Successfully tagged hello-dind:latest$/m);
    expect(trace).toMatch(/^hello as uid 10001, built on x86_64 by a RUN step$/m);
  });

  it("a dind service without TLS (DOCKER_TLS_CERTDIR empty) is reached on 2375, and the service alone makes the job privileged", async () => {
    const trace = plainTrace(jobs.world, plainDind);
    expect(plainDind.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^DOCKER_HOST=tcp:\/\/docker:2375$/m);
    expect(trace).toMatch(/^12\.\d+$/m);
    expect(trace).toMatch(/Starting job task.*MANAGED_INSTANCES, privileged/);
    await expectJobTasksStopped(jobs.world, plainDind);
  });

  it("each job ran one task on the Managed Instances capacity provider; the first waited for an instance start", async () => {
    const provider = jobs.world.deployed.managerResources.managedInstancesCapacityProvider;
    const tasks = [dind, plainDind].map((job) => {
      const [task, ...others] = jobTasksOf(jobs.world, job);
      expect(others).toEqual([]);
      expect(task?.task.capacityProviderName).toBe(provider);
      return task!;
    });
    expect(plainTrace(jobs.world, dind)).toMatch(/Starting job task.*MANAGED_INSTANCES, privileged/);
    // The second task is placed on the instance the first one started (it is up or launching).
    const [first] = tasks.sort((a, b) => (a.reachedAt.PROVISIONING ?? 0) - (b.reachedAt.PROVISIONING ?? 0));
    const waited = (first!.reachedAt.PENDING ?? 0) - (first!.reachedAt.PROVISIONING ?? 0);
    expect(waited).toBeGreaterThanOrEqual(INSTANCE_START_MS);
    for (const job of [dind, plainDind]) await expectJobTasksStopped(jobs.world, job);
  });

  it("the manager prices the job's task as its share of the Managed Instances instance", async () => {
    // Emitted at cleanup, which follows the final update: give the log a moment to arrive.
    let cost: Record<string, unknown> | undefined;
    for (let i = 0; i < 60 && !cost; i++) {
      cost = (await managerLogLines(jobs.world))
        .filter((line) => line.includes(`"${METRICS.jobTaskCostUsd}"`))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((record) => record.jobId === String(dind.id));
      if (!cost) await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(cost, "no JobTaskCostUsd record for the dind job").toBeDefined();
    expect(cost).toMatchObject({ capacity: "MANAGED_INSTANCES", architecture: "x86_64" });
    const seconds = (await managerLogLines(jobs.world))
      .filter((line) => line.includes(`"${METRICS.jobTaskSeconds}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record.jobId === String(dind.id))?.[METRICS.jobTaskSeconds] as number;
    const task = {
      cpu: cost!.cpu as number,
      memoryMiB: cost!.memoryMiB as number,
      architecture: "x86_64" as const,
    };
    const priced = taskCost({ ...task, capacity: "MANAGED_INSTANCES" }, seconds, cost!.priceRegion as string);
    expect(cost![METRICS.jobTaskCostUsd]).toBeCloseTo(priced.usd, 10);
    // The instance's rates, not Fargate's: the same task on Fargate would cost something else.
    const onFargate = taskCost({ ...task, capacity: "FARGATE" }, seconds, cost!.priceRegion as string);
    expect(priced.usd).not.toBeCloseTo(onFargate.usd, 10);
  });
});
