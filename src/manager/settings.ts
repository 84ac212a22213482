/**
 * Everything the manager needs from its environment, validated before anything starts: the configuration
 * (SGR_CONFIG), deployed resources (SGR_RESOURCES), which runner configuration this task serves
 * (SGR_RUNNER_NAME) and its token (RUNNER_TOKEN, from SSM through the task definition's `secrets`).
 */
import * as z from "zod";
import { loadConfigFromEnv, loadResourcesFromEnv } from "../config/load.js";
import type { Resources } from "../config/resources.js";
import type { Config, RunnerConfig } from "../config/schema.js";
import { DEFAULT_RUNNER_HOME, DRIVER_EXECUTABLE } from "./paths.js";

export const RUNNER_NAME_ENV = "SGR_RUNNER_NAME";
export const RUNNER_TOKEN_ENV = "RUNNER_TOKEN";

/** Raised when the task cannot start; the message says what to fix and never contains the token. */
export class ManagerStartupError extends Error {
  override name = "ManagerStartupError";
}

export interface ManagerSettings {
  config: Config;
  resources: Resources;
  runner: RunnerConfig;
  /** The runner authentication token; goes into config.toml only. */
  token: string;
  /** Writable directory for config.toml, .runner_system_id and gitlab-runner's working directory. */
  runnerHome: string;
  /** The gitlab-runner executable (PATH lookup by default). */
  gitlabRunnerBinary: string;
  /** What config.toml runs for every custom-executor stage: the image's driver unless overridden (local runs). */
  driverExecutable: string;
  /** AWS region of the task (bucket location of the cache). */
  region: string | undefined;
  /** How often the manager reads its record for a drain request, and how often it heartbeats. */
  drainPollMs: number;
  heartbeatMs: number;
}

const intervalMs = (fallback: number) =>
  z.coerce.number().int().min(50).max(3_600_000).optional().default(fallback);

/** Operational knobs that tests shorten; production uses the defaults. */
const tuningSchema = z.object({
  SGR_RUNNER_HOME: z.string().min(1).startsWith("/", "must be an absolute path").default(DEFAULT_RUNNER_HOME),
  SGR_GITLAB_RUNNER_BIN: z.string().min(1).default("gitlab-runner"),
  SGR_DRIVER_EXECUTABLE: z.string().startsWith("/", "must be an absolute path").default(DRIVER_EXECUTABLE),
  SGR_DRAIN_POLL_MS: intervalMs(10_000),
  SGR_HEARTBEAT_MS: intervalMs(30_000),
});

function readToken(env: NodeJS.ProcessEnv): string {
  // SSM values pasted by hand often end in a newline; a token never contains whitespace.
  const token = env[RUNNER_TOKEN_ENV]?.trim();
  if (!token) {
    throw new ManagerStartupError(
      `${RUNNER_TOKEN_ENV} is not set: the task definition must inject the runner token from SSM through 'secrets'`,
    );
  }
  if (/\s/.test(token))
    throw new ManagerStartupError(`${RUNNER_TOKEN_ENV} contains whitespace; check the SSM value`);
  return token;
}

function findRunner(config: Config, env: NodeJS.ProcessEnv): RunnerConfig {
  const name = env[RUNNER_NAME_ENV]?.trim();
  if (!name)
    throw new ManagerStartupError(
      `${RUNNER_NAME_ENV} is not set: which runner configuration does this task serve?`,
    );
  const runner = config.runners.find((r) => r.name === name);
  if (!runner) {
    const known = config.runners.map((r) => r.name).join(", ");
    throw new ManagerStartupError(
      `${RUNNER_NAME_ENV}='${name}' is not a runner in SGR_CONFIG (known: ${known})`,
    );
  }
  return runner;
}

/** Validates the environment; throws ConfigError (bad SGR_CONFIG/SGR_RESOURCES) or ManagerStartupError. */
export function loadManagerSettings(env: NodeJS.ProcessEnv): ManagerSettings {
  const config = loadConfigFromEnv(env);
  const resources = loadResourcesFromEnv(env);
  const runner = findRunner(config, env);
  const token = readToken(env);
  const tuning = tuningSchema.safeParse(env);
  if (!tuning.success) {
    const issues = tuning.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ManagerStartupError(`invalid manager environment: ${issues}`);
  }
  return {
    config,
    resources,
    runner,
    token,
    runnerHome: tuning.data.SGR_RUNNER_HOME,
    gitlabRunnerBinary: tuning.data.SGR_GITLAB_RUNNER_BIN,
    driverExecutable: tuning.data.SGR_DRIVER_EXECUTABLE,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    drainPollMs: tuning.data.SGR_DRAIN_POLL_MS,
    heartbeatMs: tuning.data.SGR_HEARTBEAT_MS,
  };
}
