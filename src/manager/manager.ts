/**
 * The manager container's job once its settings are valid and its task ARN known (main.ts): write config.toml and
 * .runner_system_id, run gitlab-runner under the supervisor, and return gitlab-runner's exit code.
 */
import { writeFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
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
  readJobLoad,
  readManagerState,
} from "../state/manager-record.js";
import { forgetPendingJobs, readPendingJobs } from "../state/pending-wake.js";
import { type StateDb, taskIdOf } from "../state/table.js";
import { renderConfigToml } from "./config-toml.js";
import { forwardDaemonLog } from "./daemon-log.js";
import { CONFIG_FILE_NAME, SYSTEM_ID_FILE_NAME } from "./paths.js";
import type { RunnerChild } from "./runner-child.js";
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

/** config.toml's text for a gitlab-runner allowed `concurrent` jobs (it holds the token: written 0600). */
function configText(settings: ManagerSettings, concurrent: number): string {
  return renderConfigToml({
    gitlabUrl: settings.config.gitlab.url,
    runner: { ...settings.runner, concurrent },
    token: settings.token,
    driverExecutable: settings.driverExecutable,
    ...(settings.resources.cacheBucketName
      ? { cache: { bucketName: settings.resources.cacheBucketName, region: settings.region } }
      : {}),
  });
}

/** Writes config.toml (0600: it holds the token) and the stable system id next to it. */
export async function writeRunnerFiles(settings: ManagerSettings): Promise<RunnerFiles> {
  await mkdir(settings.runnerHome, { recursive: true, mode: 0o700 });
  const configPath = join(settings.runnerHome, CONFIG_FILE_NAME);
  await writeFile(configPath, configText(settings, settings.runner.concurrent), { mode: 0o600 });
  const systemId = systemIdFor({
    runnerName: settings.runner.name,
    deploymentSeed: `${settings.config.gitlab.url}|${settings.resources.stateTableName}`,
  });
  await writeSystemIdFile(join(settings.runnerHome, SYSTEM_ID_FILE_NAME), systemId);
  return { configPath, systemId };
}

/**
 * Starts runner generations (generations.ts): the first with config.toml, each later one with a config file of its
 * own next to it (same system id), allowed the jobs it is given; a later generation's file goes when it exits.
 */
function runnerLauncher(
  settings: ManagerSettings,
  files: RunnerFiles,
  deps: Pick<ManagerDeps, "env" | "logger" | "taskArn">,
): (concurrent: number) => RunnerChild {
  let generation = 0;
  return (concurrent) => {
    const n = generation++;
    const configPath = n === 0 ? files.configPath : join(settings.runnerHome, `config-${n}.toml`);
    if (n > 0) writeFileSync(configPath, configText(settings, concurrent), { mode: 0o600 });
    const child = startRunnerProcess({
      binary: settings.gitlabRunnerBinary,
      configPath,
      workingDirectory: settings.runnerHome,
      // The driver (run by gitlab-runner, so it inherits this) tags job tasks with the manager's task id and
      // counts running jobs on this manager's record (src/driver/README.md).
      env: { ...deps.env, [MANAGER_TASK_ID_ENV]: taskIdOf(deps.taskArn) },
    });
    let running = true;
    void child.exited
      .then(() => {
        running = false;
        if (n > 0) return rm(configPath, { force: true });
      })
      .catch((err: Error) =>
        deps.logger.warn("could not remove a runner generation's config", { error: err.message }),
      );
    return {
      ...child,
      async allow(jobs) {
        if (!running) return;
        await writeFile(configPath, configText(settings, jobs), { mode: 0o600 }).then(
          () => deps.logger.info("runner generation may run more jobs", { generation: n, concurrent: jobs }),
          (err: Error) => deps.logger.warn("could not widen the runner generation", { error: err.message }),
        );
      },
    };
  };
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
    jobLoad: () => readJobLoad(ref),
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
    startRunner: runnerLauncher(settings, files, deps),
    concurrent: settings.runner.concurrent,
    record: boundRecord(ref, deps.metrics ?? createEmfWriter({ service: MANAGER_METRIC_SERVICE })),
    signals: deps.signals,
    drainPollMs: settings.drainPollMs,
    heartbeatMs: settings.heartbeatMs,
    logger: deps.logger,
    wake: pendingJobSource(settings, ref),
  }).finally(() => daemonLog.stop());
  return code;
}
