/**
 * Renders gitlab-runner's config.toml from the typed configuration. smol-toml does the quoting, so a
 * token or URL with quotes or backslashes cannot break the file. Keys follow gitlab-runner's
 * `common/config.go` (global settings, `[[runners]]`, `[runners.custom]`, `[runners.cache]`/`[runners.cache.s3]`).
 */
import { stringify } from "smol-toml";
import type { RunnerConfig } from "../config/schema.js";
import { JOB_BUILDS_DIR, JOB_CACHE_DIR } from "./paths.js";

/**
 * Custom executor timeouts, in seconds. Set explicitly because gitlab-runner's defaults do not fit: prepare
 * includes a Fargate task start with the image pull (minutes for a large image, not the default hour), and the
 * code default of force_kill_timeout (10 s) differs from what the docs say (600 s).
 */
export const EXECUTOR_TIMEOUTS = {
  /** config_exec only prints JSON; a minute means something is stuck. */
  configExecSeconds: 60,
  /** RunTask + image pull + agent ready; a 10 GB image on Fargate can take several minutes. */
  prepareExecSeconds: 1200,
  /** StopTask and bookkeeping; cleanup never fails the job, it only must not hang. */
  cleanupExecSeconds: 300,
  /** SIGTERM → SIGKILL for a cancelled stage: the driver stops the remote step within seconds. */
  gracefulKillSeconds: 60,
  /** SIGKILL → give up on the process. */
  forceKillSeconds: 30,
} as const;

/** Global gitlab-runner settings. */
export const RUNNER_GLOBALS = {
  /**
   * Only used on a forceful stop (a second signal, or SIGKILL is near): the manager turns ECS's SIGTERM into
   * SIGQUIT, which has no time limit of its own.
   */
  shutdownTimeoutSeconds: 30,
} as const;

export interface CacheSettings {
  /** S3 bucket of the distributed cache (SGR_RESOURCES.cacheBucketName). */
  bucketName: string;
  /** Bucket region; omitted when unknown and gitlab-runner discovers it. */
  region?: string;
}

export interface ConfigTomlInput {
  /** GitLab base URL (config `gitlab.url`). */
  gitlabUrl: string;
  runner: RunnerConfig;
  /** The `glrt-` runner authentication token. Only ever written to the file, never logged. */
  token: string;
  /** Path of the driver executable (src/manager/paths.ts DRIVER_EXECUTABLE). */
  driverExecutable: string;
  /** Distributed cache; without it jobs keep their cache only inside their (ephemeral) task. */
  cache?: CacheSettings;
}

function customExecutorSection(driverExecutable: string): Record<string, unknown> {
  return {
    config_exec: driverExecutable,
    config_args: ["config"],
    config_exec_timeout: EXECUTOR_TIMEOUTS.configExecSeconds,
    prepare_exec: driverExecutable,
    prepare_args: ["prepare"],
    prepare_exec_timeout: EXECUTOR_TIMEOUTS.prepareExecSeconds,
    run_exec: driverExecutable,
    run_args: ["run"],
    cleanup_exec: driverExecutable,
    cleanup_args: ["cleanup"],
    cleanup_exec_timeout: EXECUTOR_TIMEOUTS.cleanupExecSeconds,
    graceful_kill_timeout: EXECUTOR_TIMEOUTS.gracefulKillSeconds,
    force_kill_timeout: EXECUTOR_TIMEOUTS.forceKillSeconds,
  };
}

function cacheSection(cache: CacheSettings): Record<string, unknown> {
  return {
    Type: "s3",
    // Shared: one cache for all runner managers of the runner (each task is a new manager).
    Shared: true,
    s3: {
      BucketName: cache.bucketName,
      ...(cache.region ? { BucketLocation: cache.region } : {}),
      // The manager task role signs the pre-signed URLs jobs use; no keys in the file.
      AuthenticationType: "iam",
      // Tasks reach S3 over IPv4 (a public address, a NAT or the S3 gateway endpoint). gitlab-runner's default,
      // dual-stack, also makes the AWS SDK refuse any endpoint override (AWS_ENDPOINT_URL_S3, e.g. FIPS or an
      // interface endpoint) with "DualStack and custom endpoint are not supported", and then no cache URL is signed.
      DualStack: false,
    },
  };
}

/**
 * Job requests in flight at once. With GitLab's long polling, one request held open delays the next job; the
 * runner itself warns about request_concurrency = 1 and recommends 2–4. Never more than the jobs it may run.
 */
export function requestConcurrency(concurrent: number): number {
  return Math.max(1, Math.min(4, concurrent));
}

/** The config.toml text for one runner configuration. */
export function renderConfigToml(input: ConfigTomlInput): string {
  const { runner } = input;
  const document = {
    concurrent: runner.concurrent,
    // Seconds between job requests while nothing wakes the runner (src/manager/wake.ts).
    check_interval: runner.checkIntervalSeconds,
    shutdown_timeout: RUNNER_GLOBALS.shutdownTimeoutSeconds,
    // JSON lines in CloudWatch, like our own logs.
    log_format: "json",
    runners: [
      {
        name: runner.name,
        url: input.gitlabUrl,
        token: input.token,
        executor: "custom",
        limit: runner.concurrent,
        request_concurrency: requestConcurrency(runner.concurrent),
        builds_dir: JOB_BUILDS_DIR,
        cache_dir: JOB_CACHE_DIR,
        shell: "bash",
        custom: customExecutorSection(input.driverExecutable),
        ...(input.cache ? { cache: cacheSection(input.cache) } : {}),
      },
    ],
  };
  return stringify(document);
}
