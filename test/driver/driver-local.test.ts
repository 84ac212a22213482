/**
 * The driver end to end on the local backend: thin Go client → daemon → local job task (agent + busybox-only
 * chroot) through the authenticated TLS channel, as gitlab-runner would drive it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalBackend } from "../../src/driver/backends/local.js";
import { type DriverDaemon, startDriverDaemon } from "../../src/driver/daemon/index.js";
import { ensureDriverBuilt } from "./support/build.js";
import { fakeJob, processesMentioning, removeFakeJobDirs, type StageResult } from "./support/stage-runner.js";

let SERVICE_PORT: number;

/** A port nothing listens on right now (the local backend's services share the host network). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
let daemon: DriverDaemon;
let work: string;
let baseEnv: Record<string, string>;
let client: string;

beforeAll(async () => {
  const build = ensureDriverBuilt();
  client = build.client;
  SERVICE_PORT = await freePort();
  work = mkdtempSync(join(tmpdir(), "sgr-driver-test-"));
  const socketPath = join(work, "daemon.sock");
  daemon = await startDriverDaemon({ socketPath, agentBinary: build.agent, agentWaitMs: 20_000 });
  baseEnv = {
    SGR_DRIVER_SOCKET: socketPath,
    SGR_DRIVER_BACKEND: "local",
    SGR_LOCAL_DIR: join(work, "tasks"),
    SGR_LOCAL_IMAGES: JSON.stringify({
      "tcp-service:1": {
        command: [
          process.execPath,
          "-e",
          `require("net").createServer((s) => { s.on("error", () => {}); s.end("pong\\n"); }).listen(${SERVICE_PORT}, "127.0.0.1")`,
        ],
        ports: [SERVICE_PORT],
      },
    }),
  };
});

afterAll(async () => {
  // A failed assertion skips a test's cleanup stage: stop whatever the daemon still holds.
  for (const job of daemon?.context.jobs.values() ?? [])
    await job.backend.stopTask(job.taskId, "test teardown");
  await daemon?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  removeFakeJobDirs();
});

/** Asserts a stage succeeded, showing what it printed when it did not. */
async function expectOk(stage: Promise<StageResult>): Promise<StageResult> {
  const result = await stage;
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

function localBackend(): Promise<LocalBackend> {
  return daemon.context.backend(baseEnv) as Promise<LocalBackend>;
}

describe("driver on the local backend", () => {
  it("runs helper and build stages of a successful job, sharing the builds dir", async () => {
    const job = fakeJob({ client, baseEnv, variables: { SGR_CPU: "64" } });
    const config = await job.stage(["config"]);
    expect(config.code).toBe(0);
    const { builds_dir: buildsDir, driver } = JSON.parse(config.stdout) as {
      builds_dir: string;
      driver: { name: string };
    };
    expect(driver.name).toBe("sgr-driver");

    const prepare = await job.stage(["prepare"]);
    expect(prepare.stdout).toContain("SGR_CPU=64 is above this runner's maximum");
    expect(prepare.code, prepare.stdout).toBe(0);

    const sources = await job.run(
      "get_sources",
      `mkdir -p ${buildsDir}/project && echo "from-helper" > ${buildsDir}/project/file && command -v git`,
    );
    expect(sources.code, sources.stdout).toBe(0);
    expect(sources.stdout).toMatch(/git/);

    const script = await job.run(
      "build_script",
      `cat ${buildsDir}/project/file; ls /bin/bash /usr/bin/git 2>&1 | head -2; echo "shell=$(readlink /proc/$$/exe)"; echo done >&2`,
    );
    expect(script.code, script.stdout).toBe(0);
    expect(script.stdout).toContain("from-helper");
    expect(script.stdout).toMatch(/\/bin\/bash: No such file or directory/);
    expect(script.stdout).toContain("shell=/bin/busybox");
    expect(script.stdout).toContain("done");

    const step = await job.run("step_release", "echo step ok");
    expect(step.stdout).toBe("step ok\n");
    const after = await job.run("after_script", "echo after");
    expect(after.stdout).toBe("after\n");

    await expectOk(job.stage(["cleanup"]));
    expect(processesMentioning(join(work, "tasks", `local-local-${job.id}`))).toEqual([]);
  });

  it("reports a failing script as a build failure with its exit code in BUILD_EXIT_CODE_FILE", async () => {
    const job = fakeJob({ client, baseEnv });
    await expectOk(job.stage(["config"]));
    await expectOk(job.stage(["prepare"]));
    const result = await job.run("build_script", "echo failing; exit 42");
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain("failing");
    expect(job.buildExitCode()).toBe("42");
    // after_script and uploads still run after a failure
    expect((await job.run("after_script", "echo after")).code).toBe(0);
    expect((await job.run("upload_artifacts_on_failure", "echo upload")).stdout).toBe("upload\n");
    await expectOk(job.stage(["cleanup"]));
  });

  it("turns a task that stops under a running step into a system failure with the reason in the log", async () => {
    const job = fakeJob({ client, baseEnv });
    await job.stage(["config"]);
    await expectOk(job.stage(["prepare"]));
    const backend = await localBackend();
    const taskId = `local-local-${job.id}`;
    const running = job.run("build_script", "echo started; sleep 30");
    await new Promise((r) => setTimeout(r, 500));
    await backend.simulateStop(taskId, "SpotInterruption: Your Spot Task was interrupted.");
    const result = await running;
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("started");
    expect(result.stdout).toContain("SpotInterruption: Your Spot Task was interrupted.");
    await expectOk(job.stage(["cleanup"]));
    expect(processesMentioning(join(work, "tasks", taskId))).toEqual([]);
  });

  it("stops the remote step when the run client gets SIGTERM, and after_script still runs", async () => {
    const job = fakeJob({ client, baseEnv });
    await job.stage(["config"]);
    await expectOk(job.stage(["prepare"]));
    let signalledAt = 0;
    const result = await job.run("build_script", "echo running; sleep 60; echo never", (child) => {
      setTimeout(() => {
        signalledAt = performance.now();
        // gitlab-runner signals the client's process group
        if (child.exitCode === null) process.kill(-(child.pid as number), "SIGTERM");
      }, 700);
    });
    const stopMs = performance.now() - signalledAt;
    console.log(`cancel: remote step stopped and run client exited ${stopMs.toFixed(0)} ms after SIGTERM`);
    // The step was stopped, not waited for (its sleep is 60 s). Speed is the bench's business, not a test's.
    expect(stopMs).toBeLessThan(20_000);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("running");
    expect(result.stdout).not.toContain("never");
    // Nothing of the step is left in the task (processes whose root is its chroot, other than the loop).
    const inTask = processesMentioning(join(work, "tasks", `local-local-${job.id}`, "rootfs"));
    expect(inTask.filter((p) => /^\d+: sleep /.test(p))).toEqual([]);
    expect((await job.run("after_script", "echo after-cancel")).stdout).toBe("after-cancel\n");
    await expectOk(job.stage(["cleanup"]));
  });

  it("kills a step that ignores SIGTERM (SIGKILL after the grace period)", async () => {
    const job = fakeJob({ client, baseEnv });
    await job.stage(["config"]);
    await expectOk(job.stage(["prepare"]));
    let signalledAt = 0;
    const result = await job.run(
      "build_script",
      "trap '' TERM; echo stubborn; sleep 60; echo never",
      (child) => {
        setTimeout(() => {
          signalledAt = performance.now();
          if (child.exitCode === null) process.kill(-(child.pid as number), "SIGTERM");
        }, 700);
      },
    );
    const stopMs = performance.now() - signalledAt;
    console.log(`cancel (SIGTERM ignored): step killed ${stopMs.toFixed(0)} ms after SIGTERM`);
    expect(stopMs).toBeLessThan(20_000);
    expect(result.stdout).toContain("stubborn");
    expect(result.stdout).not.toContain("never");
    expect(result.code).toBe(1);
    expect(job.buildExitCode()).toBe("137"); // SIGKILL
    await expectOk(job.stage(["cleanup"]));
  });

  it("starts services before the scripts and makes their aliases resolve", async () => {
    const job = fakeJob({
      client,
      baseEnv,
      payload: { services: [{ name: "tcp-service:1", alias: "db,cache-db" }] },
    });
    await job.stage(["config"]);
    const prepare = await job.stage(["prepare"]);
    expect(prepare.code, prepare.stdout).toBe(0);
    expect(prepare.stdout).toContain(`Waiting for services on the task's port(s) ${SERVICE_PORT}`);
    expect(prepare.stdout).not.toContain("did not accept connections");
    const result = await job.run("build_script", `grep db /etc/hosts; nc db ${SERVICE_PORT} </dev/null`);
    expect(result.stdout).toContain("127.0.0.1 db cache-db");
    expect(result.stdout).toContain("pong");
    await expectOk(job.stage(["cleanup"]));
    expect(processesMentioning(String(SERVICE_PORT)).filter((p) => p.includes("createServer"))).toEqual([]);
  });

  it("makes prepare idempotent: a retry reaps the task of the earlier attempt", async () => {
    const job = fakeJob({ client, baseEnv });
    await job.stage(["config"]);
    await expectOk(job.stage(["prepare"]));
    const firstPid = readFileSync(join(work, "tasks", `local-local-${job.id}`, "task.pid"), "utf8").trim();
    const retry = await job.stage(["prepare"]);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain("left by an earlier preparation attempt");
    expect(processesMentioning(`local-local-${job.id}`).some((p) => p.startsWith(`${firstPid}:`))).toBe(
      false,
    );
    expect((await job.run("build_script", "echo ok")).stdout).toBe("ok\n");
    await expectOk(job.stage(["cleanup"]));
    // cleanup twice (the runner calls it between retries too) never fails
    await expectOk(job.stage(["cleanup"]));
  });

  it("reattaches to a running job task after the daemon restarts", async () => {
    const socketPath = join(work, "restart.sock");
    const env = { ...baseEnv, SGR_DRIVER_SOCKET: socketPath };
    const agent = ensureDriverBuilt().agent;
    const first = await startDriverDaemon({ socketPath, agentBinary: agent });
    const job = fakeJob({ client, baseEnv: env });
    await expectOk(job.stage(["config"]));
    await expectOk(job.stage(["prepare"]));
    await expectOk(job.run("build_script", "echo before > /tmp/marker"));
    await first.close(); // the channel closes, the task keeps running
    const second = await startDriverDaemon({ socketPath, agentBinary: agent });
    try {
      const after = await expectOk(job.run("after_script", "cat /tmp/marker"));
      expect(after.stdout).toBe("before\n");
      await expectOk(job.stage(["cleanup"]));
      expect(processesMentioning(join(work, "tasks", `local-local-${job.id}`))).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it("reports a build container that is gone as a system failure, not as the script's result", async () => {
    const job = fakeJob({ client, baseEnv });
    await job.stage(["config"]);
    await expectOk(job.stage(["prepare"]));
    const loop = processesMentioning(join(work, "tasks", `local-local-${job.id}`, "rootfs")).find((p) =>
      /^\d+: \/bin\/sh -c d=/.test(p),
    );
    expect(loop).toBeDefined();
    process.kill(Number(loop?.split(":")[0]), "SIGKILL");
    const result = await job.run("build_script", "echo never");
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("the build container is not running");
    expect(job.buildExitCode()).toBeUndefined();
    await expectOk(job.stage(["cleanup"]));
  });

  it("applies the runner configuration's caps from SGR_CONFIG", async () => {
    const config = {
      gitlab: { url: "https://gitlab.example.com" },
      runners: [
        {
          name: "small",
          tags: ["x"],
          jobs: { maxSize: { cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 30 } },
        },
      ],
    };
    const job = fakeJob({
      client,
      baseEnv: { ...baseEnv, SGR_CONFIG: JSON.stringify(config), SGR_RUNNER_NAME: "small" },
      variables: { SGR_CPU: "4", SGR_MEMORY: "2Gi" },
    });
    await job.stage(["config"]);
    const prepare = await expectOk(job.stage(["prepare"]));
    expect(prepare.stdout).toContain(
      "WARNING: SGR_CPU=4 is above this runner's maximum (2 vCPU); using 2 vCPU",
    );
    expect(prepare.stdout).toContain("(2 vCPU, 4096 MiB, 21 GiB disk");
    await expectOk(job.stage(["cleanup"]));
  });

  it("refuses a privileged job on a runner that does not allow it, as a system failure with the reason", async () => {
    for (const request of [
      { variables: { SGR_PRIVILEGED: "true" }, reason: "SGR_PRIVILEGED=true" },
      { payload: { services: [{ name: "docker:27-dind" }] }, reason: "the service docker:27-dind" },
    ]) {
      const job = fakeJob({ client, baseEnv, variables: request.variables, payload: request.payload });
      await job.stage(["config"]);
      const prepare = await job.stage(["prepare"]);
      expect(prepare.code).toBe(2);
      expect(prepare.stdout).toContain(
        `ERROR: Job task preparation failed: this job needs a privileged container (${request.reason}`,
      );
      expect(prepare.stdout).toContain("jobs.allowPrivileged is false in its configuration");
      await expectOk(job.stage(["cleanup"]));
    }
  });

  it("fails prepare as a system failure, with the reason, when a service image is not available", async () => {
    const job = fakeJob({ client, baseEnv, payload: { services: [{ name: "postgres:16" }] } });
    await job.stage(["config"]);
    const prepare = await job.stage(["prepare"]);
    expect(prepare.code).toBe(2);
    expect(prepare.stdout).toContain(
      "ERROR: Job task preparation failed: service image 'postgres:16' is not available",
    );
    await expectOk(job.stage(["cleanup"]));
  });

  it("fails a run without a prepared task as a system failure", async () => {
    const job = fakeJob({ client, baseEnv });
    const result = await job.run("build_script", "echo hi");
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("no job task is known for this job");
  });
});
