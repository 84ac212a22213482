/**
 * The thin client starts the daemon itself when none listens (the way gitlab-runner in the manager meets it):
 * concurrent first stages start exactly one daemon, and the Node client speaks the same protocol.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "../../src/driver/backends/processes.js";
import { type DriverBuild, ensureDriverBuilt } from "./support/build.js";
import { stopSpawnedDaemon } from "./support/spawned-daemon.js";
import { fakeJob, removeFakeJobDirs } from "./support/stage-runner.js";

let build: DriverBuild;
let work: string;
let socketPath: string;

beforeAll(() => {
  build = ensureDriverBuilt();
  work = mkdtempSync(join(tmpdir(), "sgr-spawn-test-"));
  socketPath = join(work, "run", "daemon.sock");
});

afterAll(async () => {
  await stopSpawnedDaemon(socketPath);
  if (work) rmSync(work, { recursive: true, force: true });
  removeFakeJobDirs();
});

describe("daemon started by the first client", () => {
  it("starts one daemon for many concurrent first stages, which serves both clients", async () => {
    const baseEnv = {
      SGR_DRIVER_SOCKET: socketPath,
      SGR_DRIVER_BACKEND: "local",
      SGR_LOCAL_DIR: join(work, "tasks"),
      SGR_DRIVER_NODE: process.execPath,
      SGR_DRIVER_DAEMON_IDLE_SECONDS: "60",
    };
    const jobs = Array.from({ length: 6 }, () => fakeJob({ client: build.client, baseEnv }));
    const results = await Promise.all(jobs.map((job) => job.stage(["config"])));
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ driver: { name: "sgr-driver" } });
    }
    const pid = Number(readFileSync(`${socketPath}.pid`, "utf8").trim());
    expect(isAlive(pid)).toBe(true);
    const daemons = execFileSync("pgrep", ["-f", build.daemon], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter((p) => readFileSync(`/proc/${p}/environ`, "utf8").includes(`SGR_DRIVER_SOCKET=${socketPath}`));
    expect(daemons).toEqual([String(pid)]);

    const viaNode = fakeJob({ client: build.nodeClient, baseEnv });
    const nodeResult = await viaNode.stage(["config"]);
    expect(nodeResult.code, nodeResult.stderr).toBe(0);
    expect(JSON.parse(nodeResult.stdout).builds_dir).toBe(
      join(work, "tasks", `local-local-${viaNode.id}`, "builds"),
    );
  });

  it("reports an unknown command as a system failure", async () => {
    const job = fakeJob({ client: build.client, baseEnv: { SGR_DRIVER_SOCKET: socketPath } });
    const result = await job.stage(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command");
  });
});
