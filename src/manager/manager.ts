/**
 * The manager container's job once its settings are valid and its task ARN known (main.ts): write config.toml and
 * .runner_system_id, run gitlab-runner under the supervisor, and return gitlab-runner's exit code.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { socketPathFrom } from "../driver/daemon/wire.js";
import { createEmfWriter, type EmfWriter } from "../observability/emf.js";
import { MANAGER_METRIC_SERVICE, METRICS } from "../observability/metric-names.js";
import { elapsedSeconds } from "../observability/phase-timing.js";
import {
  heartbeat,
  type ManagerRecordRef,
  markRunning,
  markSelfDraining,
  markStopped,
  readManagerState,
  readRunningJobs,
} from "../state/manager-record.js";
import { forgetPendingJobs, readPendingJobs } from "../state/pending-wake.js";
import { type StateDb, taskIdOf } from "../state/table.js";
import { renderConfigToml } from "./config-toml.js";
import { forwardDaemonLog } from "./daemon-log.js";
import { CONFIG_FILE_NAME, SYSTEM_ID_FILE_NAME } from "./paths.js";
import { startRunnerProcess } from "./runner-process.js";
import type { ManagerSettings } from "./settings.js";
import {
  type ManagerRecord,
  type SignalSource,
  type SupervisorLogger,
  superviseRunner,
} from "./supervisor.js";
import { systemIdFor, writeSystemIdFile } from "./system-id.js";
import type { PendingJobSource } from "./wake.js";

/** Environment variable through which the driver learns which manager task it runs in. */
export const MANAGER_TASK_ID_ENV = "SGR_MANAGER_TASK_ID";

export interface ManagerDeps {
  db: StateDb;
  taskArn: string;
  logger: SupervisorLogger;
  signals: SignalSource;
  env: NodeJS.ProcessEnv;
  /** Queue-to-start phase metrics (default: EMF lines on stdout, the container log). */
  metrics?: EmfWriter;
}

export interface RunnerFiles {
  configPath: string;
  systemId: string;
}

/** Writes config.toml (0600: it holds the token) and the stable system id next to it. */
export async function writeRunnerFiles(settings: ManagerSettings): Promise<RunnerFiles> {
  await mkdir(settings.runnerHome, { recursive: true, mode: 0o700 });
  const configPath = join(settings.runnerHome, CONFIG_FILE_NAME);
  const toml = renderConfigToml({
    gitlabUrl: settings.config.gitlab.url,
    runner: settings.runner,
    token: settings.token,
    driverExecutable: settings.driverExecutable,
    ...(settings.resources.cacheBucketName
      ? { cache: { bucketName: settings.resources.cacheBucketName, region: settings.region } }
      : {}),
  });
  await writeFile(configPath, toml, { mode: 0o600 });
  const systemId = systemIdFor({
    runnerName: settings.runner.name,
    deploymentSeed: `${settings.config.gitlab.url}|${settings.resources.stateTableName}`,
  });
  await writeSystemIdFile(join(settings.runnerHome, SYSTEM_ID_FILE_NAME), systemId);
  return { configPath, systemId };
}

/** Queue-to-start phase "manager running": scale-up's start request → this manager marked RUNNING. */
export function managerRunningMetric(
  metrics: EmfWriter,
  taskArn: string,
  nowMs: number,
): (startRequestedAtMs: number | undefined) => void {
  return (startRequestedAtMs) => {
    const seconds = elapsedSeconds(startRequestedAtMs, nowMs);
    if (seconds !== undefined) {
      metrics.seconds(METRICS.managerStartToRunningSeconds, seconds, { managerTaskId: taskIdOf(taskArn) });
    }
  };
}

function boundRecord(ref: ManagerRecordRef, metrics: EmfWriter): ManagerRecord {
  return {
    markRunning: (nowMs) => markRunning(ref, nowMs, managerRunningMetric(metrics, ref.taskArn, nowMs)),
    readState: () => readManagerState(ref),
    heartbeat: (nowMs) => heartbeat(ref, nowMs),
    markSelfDraining: (reason, nowMs) => markSelfDraining(ref, reason, nowMs),
    markStopped: (reason, nowMs) => markStopped(ref, reason, nowMs),
  };
}

/** The pending jobs scale-up records for this runner configuration, or none when the wake is turned off. */
function pendingJobSource(settings: ManagerSettings, ref: ManagerRecordRef): PendingJobSource | undefined {
  const { wake, name } = settings.runner;
  if (!wake.enabled) return undefined;
  const store = { db: ref.db, tableName: ref.tableName };
  return {
    pollMs: wake.pollMs,
    read: () => readPendingJobs(store, name),
    forget: (jobs) => forgetPendingJobs(store, name, jobs),
    runningJobs: () => readRunningJobs(ref),
  };
}

/** Runs the manager to the end; resolves with gitlab-runner's exit code. */
export async function runManager(settings: ManagerSettings, deps: ManagerDeps): Promise<number> {
  const files = await writeRunnerFiles(settings);
  deps.logger.info("runner configuration written", {
    runner: settings.runner.name,
    configPath: files.configPath,
    systemId: files.systemId,
    concurrent: settings.runner.concurrent,
    checkIntervalSeconds: settings.runner.checkIntervalSeconds,
    wake: settings.runner.wake.enabled,
    cache: settings.resources.cacheBucketName ? "s3" : "none",
    taskArn: deps.taskArn,
  });
  const ref: ManagerRecordRef = {
    db: deps.db,
    tableName: settings.resources.stateTableName,
    runnerName: settings.runner.name,
    taskArn: deps.taskArn,
  };
  // The driver daemon gitlab-runner's stages start logs to <socket>.log; its lines (and metrics) belong in ours.
  const daemonLog = forwardDaemonLog({
    path: `${socketPathFrom(deps.env)}.log`,
    write: (text) => void process.stdout.write(text),
  });
  const code = await superviseRunner({
    startRunner: () =>
      startRunnerProcess({
        binary: settings.gitlabRunnerBinary,
        configPath: files.configPath,
        workingDirectory: settings.runnerHome,
        // The driver (run by gitlab-runner, so it inherits this) tags job tasks with the manager's task id and
        // counts running jobs on this manager's record (src/driver/README.md).
        env: { ...deps.env, [MANAGER_TASK_ID_ENV]: taskIdOf(deps.taskArn) },
      }),
    record: boundRecord(ref, deps.metrics ?? createEmfWriter({ service: MANAGER_METRIC_SERVICE })),
    signals: deps.signals,
    drainPollMs: settings.drainPollMs,
    heartbeatMs: settings.heartbeatMs,
    logger: deps.logger,
    wake: pendingJobSource(settings, ref),
  }).finally(() => daemonLog.stop());
  return code;
}
