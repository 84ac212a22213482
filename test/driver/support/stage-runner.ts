/**
 * Plays gitlab-runner's part for the driver tests: a per-job temp dir with JOB_RESPONSE_FILE and
 * BUILD_EXIT_CODE_FILE, the CUSTOM_ENV_* variables, script files per stage, and execs the thin client the way the
 * custom executor does (`run <script> <stage>`, process group leader, SIGTERM to the group on cancel).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface StageResult {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface FakeJob {
  id: string;
  tmp: string;
  env: Record<string, string>;
  stage(args: string[], onStart?: (child: ChildProcess) => void): Promise<StageResult>;
  run(stage: string, script: string, onStart?: (child: ChildProcess) => void): Promise<StageResult>;
  buildExitCode(): string | undefined;
}

let jobCounter = 0;
const jobDirs: string[] = [];

/** Removes the per-job temp dirs (gitlab-runner deletes its own after cleanup); call in afterAll. */
export function removeFakeJobDirs(): void {
  for (const dir of jobDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
const STAGE_TIMEOUT_MS = 45_000;

export function fakeJob(options: {
  client: string;
  baseEnv: Record<string, string>;
  payload?: Record<string, unknown>;
  variables?: Record<string, string>;
}): FakeJob {
  const id = String(900_000 + process.pid * 100 + ++jobCounter);
  const tmp = mkdtempSync(join(tmpdir(), "custom-executor"));
  jobDirs.push(tmp);
  writeFileSync(join(tmp, "response.json"), JSON.stringify({ id: Number(id), ...options.payload }), {
    mode: 0o600,
  });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...options.baseEnv,
    TMPDIR: tmp,
    BUILD_FAILURE_EXIT_CODE: "1",
    SYSTEM_FAILURE_EXIT_CODE: "2",
    BUILD_EXIT_CODE_FILE: join(tmp, "build_exit_code"),
    JOB_RESPONSE_FILE: join(tmp, "response.json"),
    CUSTOM_ENV_CI_JOB_ID: id,
    CUSTOM_ENV_CI_PROJECT_ID: "42",
    ...Object.fromEntries(Object.entries(options.variables ?? {}).map(([k, v]) => [`CUSTOM_ENV_${k}`, v])),
  };
  let scripts = 0;
  const stage = (args: string[], onStart?: (child: ChildProcess) => void) =>
    new Promise<StageResult>((resolve, reject) => {
      const started = performance.now();
      const [command, prefix] = options.client.endsWith(".mjs")
        ? [process.execPath, [options.client]]
        : [options.client, []];
      const child = spawn(command, [...prefix, ...args], {
        cwd: tmp,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString("utf8");
      });
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString("utf8");
      });
      // A hung stage fails its test with what it printed, instead of timing the whole test out.
      const watchdog = setTimeout(() => {
        stderr += `\n[test] stage ${args.join(" ")} did not finish in ${STAGE_TIMEOUT_MS} ms\n`;
        child.kill("SIGKILL");
      }, STAGE_TIMEOUT_MS);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(watchdog);
        resolve({ code: code ?? -1, stdout, stderr, durationMs: performance.now() - started });
      });
      onStart?.(child);
    });
  return {
    id,
    tmp,
    env,
    stage,
    run: (name, script, onStart) => {
      const path = join(tmp, `script${++scripts}`);
      writeFileSync(path, script, { mode: 0o700 });
      return stage(["run", path, name], onStart);
    },
    buildExitCode: () => {
      try {
        return readFileSync(join(tmp, "build_exit_code"), "utf8").trim();
      } catch {
        return undefined;
      }
    },
  };
}

/** Processes (host view) whose command line, cwd or root mentions `needle`: what a job left behind. */
export function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      let where = "";
      try {
        where = `${readlinkSync(`/proc/${pid}/root`)} ${readlinkSync(`/proc/${pid}/cwd`)}`;
      } catch {
        // kernel thread or gone
      }
      if (cmdline.includes(needle) || where.includes(needle)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}
