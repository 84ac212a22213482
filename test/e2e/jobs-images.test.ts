/**
 * End to end, `image:` variety: jobs on a Debian image, a busybox-only image, an image whose USER is a non-root uid,
 * an image with its own ENTRYPOINT (cleared with `entrypoint: [""]`), an image with no shell, and an image that does
 * not exist — each through the whole product (Job Hook → scale-up → manager task → job task in real containers).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { SimJob } from "../support/gitlab-sim.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { plainTrace } from "./world/jobs.js";
import type { World } from "./world/world.js";

const jobs: Record<string, SimJob> = {};

const jobsWorld = useJobsWorld();

beforeAll(async () => {
  const queue = (key: string, definition: Parameters<World["sendJob"]>[0]) => {
    jobs[key] = jobsWorld.send(definition);
  };
  // All queued at once: one manager takes them side by side.
  queue("debian", {
    name: "debian",
    image: jobsWorld.images.debian.name,
    script: ["cat /etc/debian_version", 'echo "bash $BASH_VERSION"'],
  });
  queue("busybox", {
    name: "busybox",
    image: jobsWorld.images.busybox.name,
    // sed reads to the end: `head -1` could close the pipe early and, under pipefail, fail the job with SIGPIPE.
    script: ["busybox | sed -n 1p", "echo done-in-busybox"],
  });
  queue("nonRoot", {
    name: "non-root",
    image: jobsWorld.images.nonRoot.name,
    script: [
      'echo "uid $(id -u)"',
      'echo written >"$CI_PROJECT_DIR/by-non-root.txt"',
      'cat "$CI_PROJECT_DIR/by-non-root.txt"',
    ],
  });
  queue("entrypointCleared", {
    name: "entrypoint-cleared",
    image: jobsWorld.images.entrypoint.name,
    imageEntrypoint: [""],
    script: ["sgr-tool version", "echo shell-ran"],
  });
  queue("noShell", { name: "no-shell", image: jobsWorld.images.noShell.name, script: ["echo never"] });
  queue("missing", { name: "missing-image", image: "sgr-test/does-not-exist:1", script: ["echo never"] });
  await Promise.all(Object.values(jobs).map((job) => jobsWorld.world.waitForJob(job, 600_000)));
}, WORLD_START_TIMEOUT_MS);

describe("image: variety", () => {
  it("a Debian image: the script runs in bash", async () => {
    const job = jobs.debian!;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^12\.\d+$/m);
    expect(trace).toMatch(/^bash 5\./m);
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("a busybox-only image: the script runs in busybox sh", async () => {
    const job = jobs.busybox!;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^BusyBox v1\.35/m);
    expect(trace).toContain("done-in-busybox");
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("an image whose USER is uid 1001: the script runs as 1001 and writes the project directory", async () => {
    const job = jobs.nonRoot!;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toMatch(/^uid 1001$/m);
    expect(trace).toMatch(/^written$/m);
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it('an image with its own ENTRYPOINT, cleared with entrypoint: [""]: the script runs in a shell', async () => {
    const job = jobs.entrypointCleared!;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toContain("sgr-tool 1.0.0");
    expect(trace).toMatch(/^shell-ran$/m);
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("an image with no shell: the job fails, saying the image has no shell, without hanging", async () => {
    const job = jobs.noShell!;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(trace).not.toMatch(/^never$/m);
    expect(job.final?.failureReason, trace).toBe("runner_system_failure");
    expect(trace).toMatch(/has no POSIX shell/);
    await expectJobTasksStopped(jobsWorld.world, job);
  });

  it("an image that does not exist: a system failure with the pull error in the log", async () => {
    const job = jobs.missing!;
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("failed");
    expect(job.final?.failureReason, trace).toBe("runner_system_failure");
    expect(trace).toContain("CannotPullContainerError");
    expect(trace).toContain("sgr-test/does-not-exist:1");
  });
});
