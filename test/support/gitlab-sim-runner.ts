/**
 * Runs the real gitlab-runner (built by scripts/install-gitlab-runner.sh) with `run` and a generated config.toml
 * that points every runner entry at a GitLabSim. Used by the e2e tests and the driver benchmark.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { requireTool } from "./tools.js";

/** Must match GLR_VERSION in scripts/install-gitlab-runner.sh. */
export const GITLAB_RUNNER_VERSION = "19.4.0";

export function gitlabRunnerBinary(): string {
  return requireTool(
    `gitlab-runner/${GITLAB_RUNNER_VERSION}/gitlab-runner`,
    `gitlab-runner ${GITLAB_RUNNER_VERSION}`,
  );
}

export interface S3CacheSettings {
  /** host:port of the S3 endpoint (moto). */
  serverAddress: string;
  bucketName: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

export interface RunnerEntry {
  name: string;
  token: string;
  executor: "shell" | "custom";
  /** For `custom`: the driver executable (config/prepare/run/cleanup all point at it). */
  driverClient?: string;
  cache?: S3CacheSettings;
  /** Extra `[runners] environment` entries ("KEY=value"). */
  environment?: string[];
  requestConcurrency?: number;
}

export interface RunnerProcessOptions {
  url: string;
  runners: RunnerEntry[];
  concurrent?: number;
  /** Environment of the gitlab-runner process (the custom executor passes it on to the driver). */
  env?: Record<string, string>;
}

export interface RunnerProcess {
  process: ChildProcess;
  workDir: string;
  /** Everything gitlab-runner logged so far. */
  log(): string;
  stop(): Promise<void>;
}

const tomlString = (value: string) => JSON.stringify(value);

export function configToml(options: RunnerProcessOptions, workDir: string): string {
  const lines = [
    `concurrent = ${options.concurrent ?? 4}`,
    "check_interval = 1",
    'log_level = "info"',
    "shutdown_timeout = 10",
    "",
  ];
  for (const runner of options.runners) {
    const base = join(workDir, runner.name);
    lines.push(
      "[[runners]]",
      `  name = ${tomlString(runner.name)}`,
      `  url = ${tomlString(options.url)}`,
      `  token = ${tomlString(runner.token)}`,
      `  executor = ${tomlString(runner.executor)}`,
      `  request_concurrency = ${runner.requestConcurrency ?? 2}`,
      `  builds_dir = ${tomlString(join(base, "builds"))}`,
      `  cache_dir = ${tomlString(join(base, "cache"))}`,
    );
    if (runner.executor === "shell") lines.push('  shell = "bash"');
    if (runner.environment?.length)
      lines.push(`  environment = [${runner.environment.map(tomlString).join(", ")}]`);
    if (runner.executor === "custom") {
      if (!runner.driverClient) throw new Error(`runner ${runner.name}: custom executor needs driverClient`);
      const exe = tomlString(runner.driverClient);
      lines.push(
        "  [runners.custom]",
        `    config_exec = ${exe}`,
        '    config_args = ["config"]',
        `    prepare_exec = ${exe}`,
        '    prepare_args = ["prepare"]',
        `    run_exec = ${exe}`,
        '    run_args = ["run"]',
        `    cleanup_exec = ${exe}`,
        '    cleanup_args = ["cleanup"]',
        "    force_kill_timeout = 10",
      );
    }
    if (runner.cache) {
      lines.push(
        "  [runners.cache]",
        '    Type = "s3"',
        "    Shared = true",
        "    [runners.cache.s3]",
        `      ServerAddress = ${tomlString(runner.cache.serverAddress)}`,
        `      AccessKey = ${tomlString(runner.cache.accessKey)}`,
        `      SecretKey = ${tomlString(runner.cache.secretKey)}`,
        `      BucketName = ${tomlString(runner.cache.bucketName)}`,
        `      BucketLocation = ${tomlString(runner.cache.region)}`,
        "      Insecure = true",
        "      PathStyle = true",
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** Starts `gitlab-runner run` in a fresh working directory. */
export function startRunner(options: RunnerProcessOptions): RunnerProcess {
  const binary = gitlabRunnerBinary();
  const workDir = mkdtempSync(join(tmpdir(), "sgr-glr-"));
  for (const runner of options.runners) mkdirSync(join(workDir, runner.name), { recursive: true });
  const configPath = join(workDir, "config.toml");
  writeFileSync(configPath, configToml(options, workDir), { mode: 0o600 });
  const child = spawn(binary, ["run", "--config", configPath, "--working-directory", workDir], {
    cwd: workDir,
    env: {
      ...process.env,
      // Jobs of the custom executor call `gitlab-runner` by name (cache and artifact commands).
      PATH: `${dirname(binary)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-200_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return {
    process: child,
    workDir,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
