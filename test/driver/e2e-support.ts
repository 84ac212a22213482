/**
 * Shared set-up of the end-to-end tests: a GitLab simulator, a git repository over HTTP, an S3 cache bucket in moto,
 * and the real gitlab-runner process (test/support/gitlab-sim-runner.ts) running jobs against them.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { type ServedRepo, serveGitRepo } from "../support/git-repo.js";
import { GitLabSim, type JobDefinition, type SimJob } from "../support/gitlab-sim.js";
import { gitlabRunnerBinary, type S3CacheSettings } from "../support/gitlab-sim-runner.js";
import { processesMentioning } from "./support/stage-runner.js";

export const REPO_FILES: Record<string, string> = {
  "README.md": "e2e repository: hello from git\n",
  "scripts/greet.sh": 'echo "greeting from the repository script"\n',
};

export interface E2eWorld {
  sim: GitLabSim;
  repo: ServedRepo;
  cache: S3CacheSettings;
  s3: S3Client;
  close(): Promise<void>;
}

/** Moto's endpoint as S3 host:port (the runner's ServerAddress). */
function motoAddress(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) throw new Error("AWS_ENDPOINT_URL is not set: the integration global setup starts moto");
  return new URL(endpoint).host;
}

export async function createWorld(): Promise<E2eWorld> {
  const sim = await new GitLabSim().start();
  const repo = await serveGitRepo(REPO_FILES);
  const s3 = new S3Client({ forcePathStyle: true });
  // Bucket names may not contain '_' (and the runner rejects them).
  const bucketName = `sgr-e2e-cache-${randomBytes(6).toString("hex")}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  const cache: S3CacheSettings = {
    serverAddress: motoAddress(),
    bucketName,
    accessKey: process.env.AWS_ACCESS_KEY_ID ?? "testing",
    secretKey: process.env.AWS_SECRET_ACCESS_KEY ?? "testing",
    region: process.env.AWS_REGION ?? "us-east-1",
  };
  return {
    sim,
    repo,
    cache,
    s3,
    close: async () => {
      await sim.close();
      await repo.close();
      s3.destroy();
    },
  };
}

export async function cacheObjectKeys(world: E2eWorld): Promise<string[]> {
  const listed = await world.s3.send(new ListObjectsV2Command({ Bucket: world.cache.bucketName }));
  return (listed.Contents ?? []).map((o) => o.Key ?? "");
}

/** Runs one job through the runner and waits for its final state. */
export async function runJob(
  world: E2eWorld,
  runnerToken: string,
  definition: Omit<JobDefinition, "runnerToken">,
  timeoutMs = 90_000,
): Promise<SimJob> {
  const job = world.sim.enqueue({
    git: { repoUrl: world.repo.url, sha: world.repo.sha, ref: world.repo.ref },
    ...definition,
    runnerToken,
  });
  return world.sim.waitForFinal(job, timeoutMs);
}

// Built from a string: a control character in a regex literal is flagged by the linter.
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, "g");

/** The job's trace without timestamps, ANSI colour codes and section markers, for readable assertions. */
export function plainTrace(world: Pick<E2eWorld, "sim">, job: SimJob): string {
  return world.sim
    .traceText(job)
    .replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f]{2}[OE]\+? ?/gm, "")
    .replace(ANSI_ESCAPE, "")
    .replace(/section_(start|end):\d+:[A-Za-z0-9_.-]+(\[[^\]]*\])?\r?/g, "");
}

export interface DriverSetup {
  /** Environment for gitlab-runner: the custom executor passes it to every stage client. */
  env: Record<string, string>;
  /** Directory every job task of this setup lives under (processes left behind mention it). */
  workDir: string;
  daemon: ChildProcess;
  /** Port of the stand-in service image `tcp-service:1` (answers "pong"). */
  servicePort: number;
  stop(): Promise<void>;
}

/**
 * A free port below the kernel's ephemeral range (32768+), so no client socket or random-port server of another
 * test can hold it while the stand-in service starts.
 */
async function freeServicePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port for the stand-in service");
}

/**
 * Starts the driver daemon as its own process (as the manager would), on the local backend, with a stand-in
 * service image `tcp-service:1`.
 */
export async function startDriver(daemonScript: string): Promise<DriverSetup> {
  const workDir = mkdtempSync(join(tmpdir(), "sgr-e2e-driver-"));
  const servicePort = await freeServicePort();
  const env: Record<string, string> = {
    SGR_DRIVER_SOCKET: join(workDir, "daemon.sock"),
    SGR_DRIVER_BACKEND: "local",
    SGR_DRIVER_DAEMON: daemonScript,
    SGR_LOCAL_DIR: join(workDir, "tasks"),
    SGR_LOCAL_IMAGES: JSON.stringify({
      "tcp-service:1": {
        command: [
          process.execPath,
          "-e",
          // The readiness probe connects and hangs up at once: ignore that socket's reset instead of crashing.
          `require("net").createServer((s) => { s.on("error", () => {}); s.end("pong\\n"); }).listen(${servicePort}, "127.0.0.1")`,
        ],
        ports: [servicePort],
      },
    }),
  };
  const daemon = spawn(process.execPath, [daemonScript], {
    // The helper side runs `gitlab-runner` by name for cache and artifact commands, as in the manager image.
    env: {
      ...process.env,
      ...env,
      PATH: `${dirname(gitlabRunnerBinary())}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  daemon.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  const deadline = Date.now() + 20_000;
  while (!existsSync(env.SGR_DRIVER_SOCKET as string)) {
    if (daemon.exitCode !== null) throw new Error(`driver daemon exited with ${daemon.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`driver daemon did not listen within 20 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    env,
    workDir,
    daemon,
    servicePort,
    stop: async () => {
      if (daemon.exitCode === null && daemon.signalCode === null) {
        const exited = new Promise<void>((resolve) => daemon.once("exit", () => resolve()));
        daemon.kill("SIGTERM");
        const timer = setTimeout(() => daemon.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** Processes whose command line, root or working directory mentions `needle` (a job task's directory). */
export const processesUnder = processesMentioning;

/** Waits until no process mentions `needle` (cleanup may finish just after the final job update). */
export async function waitForNoProcessesUnder(needle: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesUnder(needle);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = processesUnder(needle);
  }
  return left;
}
