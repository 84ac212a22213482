/**
 * End to end, the runner's S3 cache (moto) and artifacts: a first job saves a cache and uploads artifacts; a later
 * job, in another task, restores the cache and downloads the artifacts.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { SimJob } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { plainTrace } from "./world/jobs.js";

let producer: SimJob;
let consumer: SimJob;
const cacheValue = randomBytes(6).toString("hex");
const artifactValue = randomBytes(6).toString("hex");
const cacheKey = `e2e-${randomBytes(3).toString("hex")}`;

const jobsWorld = useJobsWorld();

beforeAll(async () => {
  producer = jobsWorld.send({
    name: "produce",
    image: jobsWorld.images.debian.name,
    cache: { key: cacheKey, paths: ["cached/"] },
    artifacts: { paths: ["out/"] },
    script: [
      `mkdir -p cached out && echo cache-${cacheValue} >cached/value && echo artifact-${artifactValue} >out/value`,
    ],
  });
  await jobsWorld.world.waitForJob(producer, 600_000);
  consumer = jobsWorld.send({
    name: "consume",
    image: jobsWorld.images.debian.name,
    cache: { key: cacheKey, paths: ["cached/"], policy: "pull" },
    dependencies: [producer],
    script: ["cat cached/value out/value"],
  });
  await jobsWorld.world.waitForJob(consumer, 600_000);
}, WORLD_START_TIMEOUT_MS);

describe("cache and artifacts", () => {
  it("the first job saves its cache to S3 and uploads its artifacts", async () => {
    const trace = plainTrace(jobsWorld.world, producer);
    expect(producer.final?.state, trace).toBe("success");
    expect(trace).toMatch(/Uploading cache\.zip to http/);
    expect(trace).not.toMatch(/No URL provided/);
    expect(trace).toMatch(/Created cache/);
    expect(trace).toMatch(/Uploading artifacts/);
    expect(producer.artifacts.length, trace).toBeGreaterThan(0);
    await expectJobTasksStopped(jobsWorld.world, producer);
  });

  it("a later job, in its own task, restores that cache and downloads those artifacts", async () => {
    const trace = plainTrace(jobsWorld.world, consumer);
    expect(consumer.final?.state, trace).toBe("success");
    expect(trace).toMatch(/Successfully extracted cache/);
    expect(trace).toMatch(/Downloading artifacts/);
    expect(trace).toMatch(new RegExp(`^cache-${cacheValue}$`, "m"));
    expect(trace).toMatch(new RegExp(`^artifact-${artifactValue}$`, "m"));
    await expectJobTasksStopped(jobsWorld.world, consumer);
  });
});
