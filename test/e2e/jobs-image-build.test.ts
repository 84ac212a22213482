/**
 * End to end, building an image on plain Fargate: a job extending the CI template's `.sgr-image-build` (its image,
 * variables and script) builds the project's multi-stage Dockerfile (a RUN step in each stage, COPY --from) with
 * kaniko in a job task under Fargate's capabilities and Docker's seccomp profile, and pushes the image to the local
 * registry; a later job names the pushed image as its `image:` and runs the command built into it. Asking for
 * privileges instead (SGR_PRIVILEGED=true, a `docker:dind` service) on this runner, which allows none, fails the job
 * with the reason in its log and starts no task.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { registryAddress } from "../../scripts/containers/env.js";
import { BUILDER_IMAGES, ensureBuilders } from "../../scripts/images/builders.js";
import { JOB_IMAGES } from "../../scripts/images/job-images.js";
import {
  BUILDER_IMAGE_TIMEOUT_MS,
  exampleDir,
  LOCAL_REGISTRY_FLAGS,
  templateScript,
  templateVariables,
} from "../builders/support.js";
import type { SimJob } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

const image = `${registryAddress}/sgr-test/hello-e2e:${Date.now().toString(36)}`;
let build: SimJob;
let runBuilt: SimJob;
let privileged: SimJob;
let dind: SimJob;

const example = (file: string) => readFileSync(join(exampleDir, file), "utf8");
const jobs = useJobsWorld({
  repository: { Dockerfile: example("Dockerfile"), "hello.sh": example("hello.sh") },
});

beforeAll(async () => {
  await ensureBuilders(["kaniko"]);
  const { world, images } = jobs;
  const variables = templateVariables();
  build = world.sendJob({
    name: "build-image",
    image: variables.KANIKO_IMAGE,
    imageEntrypoint: [""],
    variables: { ...variables, IMAGE_DESTINATION: image, IMAGE_BUILD_FLAGS: LOCAL_REGISTRY_FLAGS },
    script: ["grep -E '^(CapEff|Seccomp):' /proc/self/status", templateScript()],
  });
  privileged = world.sendJob({
    name: "privileged",
    image: images.debian.name,
    variables: { SGR_PRIVILEGED: "true" },
    script: ["echo never"],
  });
  dind = world.sendJob({
    name: "dind",
    image: images.docker.name,
    services: [{ name: images.dind.name }],
    script: ["echo never"],
  });
  await Promise.all([build, privileged, dind].map((job) => jobs.world.waitForJob(job, 900_000)));
  runBuilt = world.sendJob({ name: "run-built-image", image, script: ["hello"] });
  await world.waitForJob(runBuilt, 600_000);
}, WORLD_START_TIMEOUT_MS + BUILDER_IMAGE_TIMEOUT_MS);

describe("image builds on plain Fargate, end to end", () => {
  it("the template's kaniko job builds the multi-stage Dockerfile under Fargate's rules and pushes it", async () => {
    const trace = plainTrace(jobs.world, build);
    expect(build.final?.state, trace).toBe("success");
    expect(build.definition.image).toBe(BUILDER_IMAGES.kaniko);
    // Docker's default capabilities (no SYS_ADMIN) and a seccomp filter, in the job's own container.
    expect(trace).toMatch(/^CapEff:\s+00000000a80425fb$/m);
    expect(trace).toMatch(/^Seccomp:\s+2$/m);
    expect(trace).toMatch(/Running: \[\/bin\/sh -c chmod 755 hello\.sh/);
    expect(trace).toMatch(/Running: \[\/bin\/sh -c useradd --uid 10001/);
    expect(trace).toContain(`Pushed ${image.split(":").slice(0, 2).join(":")}`);
    const [task, ...others] = jobTasksOf(jobs.world, build);
    expect(others).toEqual([]);
    expect(task?.task.capacityProviderName ?? "FARGATE").toMatch(/^FARGATE/);
    await expectJobTasksStopped(jobs.world, build);
  });

  it("a later job runs the pushed image as its image:", async () => {
    const trace = plainTrace(jobs.world, runBuilt);
    expect(runBuilt.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^hello as uid 10001, built on x86_64 by a RUN step$/m);
    await expectJobTasksStopped(jobs.world, runBuilt);
  });

  it("a privileged job fails on a runner that allows none, saying why, and starts no task", () => {
    for (const [job, asked] of [
      [privileged, "SGR_PRIVILEGED=true"],
      [dind, `the service ${JOB_IMAGES.dind} (Docker-in-Docker needs a privileged container)`],
    ] as const) {
      const trace = plainTrace(jobs.world, job);
      expect(job.final?.state, trace).toBe("failed");
      expect(job.final?.failureReason, trace).toBe("runner_system_failure");
      expect(trace).toContain(
        `ERROR: Job task preparation failed: this job needs a privileged container (${asked}), but this runner ` +
          "does not allow privileged jobs (jobs.allowPrivileged is false in its configuration)",
      );
      expect(trace).not.toMatch(/^never$/m);
      expect(jobTasksOf(jobs.world, job)).toEqual([]);
    }
  });
});
