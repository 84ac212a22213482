import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { EXECUTOR_TIMEOUTS, RUNNER_GLOBALS, renderConfigToml, requestConcurrency } from "./config-toml.js";
import { DRIVER_EXECUTABLE, JOB_BUILDS_DIR, JOB_CACHE_DIR } from "./paths.js";

const config = parseConfig({
  gitlab: { url: "https://gitlab.example.com/" },
  runners: [{ name: "fargate-small", tags: ["fargate"], concurrent: 7 }],
});
const runner = config.runners[0]!;
const token = "glrt-t3st_T0ken-abc";

interface RenderedConfig {
  concurrent: number;
  check_interval: number;
  shutdown_timeout: number;
  log_format: string;
  runners: {
    name: string;
    url: string;
    token: string;
    executor: string;
    limit: number;
    request_concurrency: number;
    builds_dir: string;
    cache_dir: string;
    shell: string;
    custom: Record<string, unknown>;
    cache?: { Type: string; Shared: boolean; s3: Record<string, unknown> };
  }[];
}

function render(overrides: Partial<Parameters<typeof renderConfigToml>[0]> = {}): string {
  return renderConfigToml({
    gitlabUrl: config.gitlab.url,
    runner,
    token,
    driverExecutable: DRIVER_EXECUTABLE,
    cache: { bucketName: "sgr-cache-123", region: "eu-west-1" },
    ...overrides,
  });
}

const parsed = (text: string) => parse(text) as unknown as RenderedConfig;

describe("config.toml rendering", () => {
  it("sets the global keys from the runner configuration", () => {
    const doc = parsed(render());
    expect(doc.concurrent).toBe(7);
    expect(doc.check_interval).toBe(3);
    expect(doc.shutdown_timeout).toBe(RUNNER_GLOBALS.shutdownTimeoutSeconds);
    expect(doc.log_format).toBe("json");
  });

  it("describes exactly one custom-executor runner with the token, URL and job directories", () => {
    const doc = parsed(render());
    expect(doc.runners).toHaveLength(1);
    const entry = doc.runners[0]!;
    expect(entry).toMatchObject({
      name: "fargate-small",
      url: "https://gitlab.example.com",
      token,
      executor: "custom",
      limit: 7,
      builds_dir: JOB_BUILDS_DIR,
      cache_dir: JOB_CACHE_DIR,
    });
    // No token_expires_at: gitlab-runner would rotate the token and write the new one into a file that dies
    // with the task, leaving SSM with a revoked token.
    expect(entry).not.toHaveProperty("token_expires_at");
  });

  it("keeps several job requests in flight (long polling), but never more than the jobs it may run", () => {
    expect(parsed(render()).runners[0]!.request_concurrency).toBe(4);
    expect([1, 2, 3, 4, 5, 200].map(requestConcurrency)).toEqual([1, 2, 3, 4, 4, 4]);
  });

  it("points every custom executor stage at the driver with its stage argument and explicit timeouts", () => {
    const custom = parsed(render()).runners[0]!.custom;
    for (const stage of ["config", "prepare", "run", "cleanup"]) {
      expect(custom[`${stage}_exec`]).toBe(DRIVER_EXECUTABLE);
      expect(custom[`${stage}_args`]).toEqual([stage]);
    }
    expect(custom).toMatchObject({
      config_exec_timeout: EXECUTOR_TIMEOUTS.configExecSeconds,
      prepare_exec_timeout: EXECUTOR_TIMEOUTS.prepareExecSeconds,
      cleanup_exec_timeout: EXECUTOR_TIMEOUTS.cleanupExecSeconds,
      graceful_kill_timeout: EXECUTOR_TIMEOUTS.gracefulKillSeconds,
      force_kill_timeout: EXECUTOR_TIMEOUTS.forceKillSeconds,
    });
    // gitlab-runner treats 0 or negative as "use the default": every value must be a positive integer.
    for (const [key, value] of Object.entries(custom)) {
      if (key.endsWith("_timeout")) expect(Number.isInteger(value) && (value as number) > 0, key).toBe(true);
    }
  });

  it("uses the S3 cache bucket with IAM credentials over IPv4, shared between the runner's managers", () => {
    const cache = parsed(render()).runners[0]!.cache;
    expect(cache).toEqual({
      Type: "s3",
      Shared: true,
      s3: {
        BucketName: "sgr-cache-123",
        BucketLocation: "eu-west-1",
        AuthenticationType: "iam",
        DualStack: false,
      },
    });
    expect(JSON.stringify(cache)).not.toMatch(/AccessKey|SecretKey/);
  });

  it("omits the cache without a bucket, and the bucket location without a region", () => {
    expect(parsed(render({ cache: undefined })).runners[0]!.cache).toBeUndefined();
    expect(parsed(render({ cache: { bucketName: "b" } })).runners[0]!.cache?.s3).toEqual({
      BucketName: "b",
      AuthenticationType: "iam",
      DualStack: false,
    });
  });

  it("escapes values so a token or URL with TOML syntax in it cannot change the document", () => {
    const hostile = 'glrt-"\\\n[[runners]]\nexecutor = "shell"';
    const doc = parsed(render({ token: hostile, gitlabUrl: 'https://gitlab.example.com/a"b' }));
    expect(doc.runners).toHaveLength(1);
    expect(doc.runners[0]!.token).toBe(hostile);
    expect(doc.runners[0]!.url).toBe('https://gitlab.example.com/a"b');
    expect(doc.runners[0]!.executor).toBe("custom");
  });

  it("matches the snapshot", () => {
    expect(render()).toMatchSnapshot();
  });
});
