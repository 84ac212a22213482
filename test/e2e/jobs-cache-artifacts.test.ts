/**
 * End to end, the runner's S3 cache (moto) and artifacts: a first job saves a cache and uploads artifacts; a later
 * job, in another task, restores the cache and downloads the artifacts.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobImages } from "../../scripts/images/job-images.js";
import type { SimJob } from "../support/gitlab-sim.js";
import {
  endWorld,
  expectJobTasksStopped,
  type JobsWorld,
  startJobsWorld,
  traceOf,
  WORLD_START_TIMEOUT_MS,
  WORLD_STOP_TIMEOUT_MS,
} from "./jobs-support.js";
import type { World } from "./world/world.js";

let world: World | undefined;
let images: JobImages;
let send: JobsWorld["send"];
let producer: SimJob;
let consumer: SimJob;
const cacheValue = randomBytes(6).toString("hex");
const artifactValue = randomBytes(6).toString("hex");
const cacheKey = `e2e-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  ({ world, images, send } = await startJobsWorld());
  producer = send({
    name: "produce",
    image: images.debian.name,
    cache: { key: cacheKey, paths: ["cached/"] },
    artifacts: { paths: ["out/"] },
    script: [
      `mkdir -p cached out && echo cache-${cacheValue} >cached/value && echo artifact-${artifactValue} >out/value`,
    ],
  });
  await world.waitForJob(producer, 600_000);
  consumer = send({
    name: "consume",
    image: images.debian.name,
    cache: { key: cacheKey, paths: ["cached/"], policy: "pull" },
    dependencies: [producer],
    script: ["cat cached/value out/value"],
  });
  await world.waitForJob(consumer, 600_000);
}, WORLD_START_TIMEOUT_MS);

afterAll(() => endWorld(world), WORLD_STOP_TIMEOUT_MS);

describe("cache and artifacts", () => {
  it("the first job saves its cache to S3 and uploads its artifacts", async () => {
    const trace = traceOf(world!, producer);
    expect(producer.final?.state, trace).toBe("success");
    expect(trace).toMatch(/Uploading cache\.zip to http/);
    expect(trace).not.toMatch(/No URL provided/);
    expect(trace).toMatch(/Created cache/);
    expect(trace).toMatch(/Uploading artifacts/);
    expect(producer.artifacts.length, trace).toBeGreaterThan(0);
    await expectJobTasksStopped(world!, producer);
  });

  it("a later job, in its own task, restores that cache and downloads those artifacts", async () => {
    const trace = traceOf(world!, consumer);
    expect(consumer.final?.state, trace).toBe("success");
    expect(trace).toMatch(/Successfully extracted cache/);
    expect(trace).toMatch(/Downloading artifacts/);
    expect(trace).toMatch(new RegExp(`^cache-${cacheValue}$`, "m"));
    expect(trace).toMatch(new RegExp(`^artifact-${artifactValue}$`, "m"));
    await expectJobTasksStopped(world!, consumer);
  });
});
