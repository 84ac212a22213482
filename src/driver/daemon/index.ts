/**
 * startDriverDaemon(): the manager entrypoint calls this once (or the first stage client spawns main.ts). Wires
 * the backends, the runner's job settings and logging into the stage context and listens on the Unix socket.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { loadConfigFromEnv } from "../../config/load.js";
import { jobSettingsSchema } from "../../config/schema.js";
import { createEmfWriter, type EmfWriter } from "../../observability/emf.js";
import { createLogger } from "../../observability/logger.js";
import { MANAGER_METRIC_SERVICE } from "../../observability/metric-names.js";
import type { JobCounter } from "../../state/job-counter.js";
import type { Backend } from "../backend.js";
import { LocalBackend, type LocalImage } from "../backends/local.js";
import type { StageEnv } from "../job-spec.js";
import type { DriverContext, JobState, RunnerJobSettings } from "../stages/context.js";
import { type DaemonServer, listenDaemon } from "./server.js";
import { socketPathFrom } from "./wire.js";

export interface DriverDaemonOptions {
  socketPath?: string;
  /** Agent executable for the local backend (default: dist/agent/sgr-agent beside the daemon bundle's dist/driver). */
  agentBinary?: string;
  /** Override a backend (tests). */
  backends?: Partial<Record<"local" | "fargate", Backend>>;
  agentWaitMs?: number;
  /** Records job starts/ends on the manager's state-table record (default: wired from SGR_RESOURCES). */
  jobCounter?: JobCounter;
  /**
   * Queue-to-start phase metrics (default: EMF lines on this process's stdout, dimension service=manager — the
   * daemon runs in the manager task; the manager forwards the daemon's log to the container log, see
   * src/manager/daemon-log.ts). Tests pass a writer that records.
   */
  metrics?: EmfWriter;
  /** Records job recipes for speculative starts (default: the state table, wired from SGR_RESOURCES). */
  onJobRecipe?: DriverContext["onJobRecipe"];
}

export interface DriverDaemon extends DaemonServer {
  context: DriverContext;
}

function localBackendFrom(env: StageEnv, agentBinary: string): LocalBackend {
  let images: Record<string, LocalImage> = {};
  if (env.SGR_LOCAL_IMAGES) {
    try {
      images = JSON.parse(env.SGR_LOCAL_IMAGES) as Record<string, LocalImage>;
    } catch {
      throw new Error("SGR_LOCAL_IMAGES is not valid JSON (image name → {command, ports})");
    }
  }
  return new LocalBackend({
    baseDir: env.SGR_LOCAL_DIR || "/tmp/sgr-local",
    agentBinary,
    busybox: env.SGR_BUSYBOX || undefined,
    images,
  });
}

async function fargateBackendFrom(env: StageEnv): Promise<Backend> {
  // Loaded only when used: the local path (tests, development) stays free of the ECS client.
  const [
    { ECSClient },
    { createAwsClient },
    { loadResourcesFromEnv },
    { createFargateBackend },
    { buildContainerCommand },
  ] = await Promise.all([
    import("@aws-sdk/client-ecs"),
    import("../../config/aws-clients.js"),
    import("../../config/load.js"),
    import("../backends/fargate/factory.js"),
    import("../backends/build-loop.js"),
  ]);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const resources = loadResourcesFromEnv(env as NodeJS.ProcessEnv);
  return createFargateBackend({
    ecs: createAwsClient(ECSClient, region),
    s3: resources.channelSecretsBucketName ? await s3ClientFrom(env) : undefined,
    claimSpeculativeStart: await speculativeClaimFrom(env, resources.stateTableName),
    resources,
    region,
    logger: createLogger("sgr-driver"),
    buildCommand: buildContainerCommand(),
  }).backend;
}

/** The S3 client speculative tasks' secret files are read with (loaded only where the deployment has them). */
async function s3ClientFrom(env: StageEnv) {
  const [{ S3Client }, { createS3Client }] = await Promise.all([
    import("@aws-sdk/client-s3"),
    import("../../config/aws-clients.js"),
  ]);
  return createS3Client(S3Client, env as NodeJS.ProcessEnv);
}

/** In a manager task, the state table's claim on a job's speculative start (src/state/job-shapes.ts). */
async function speculativeClaimFrom(env: StageEnv, tableName: string) {
  if (!env.SGR_MANAGER_TASK_ID) return undefined;
  const [{ createDocumentClient }, { claimSpeculativeStart }] = await Promise.all([
    import("../../config/aws-clients.js"),
    import("../../state/job-shapes.js"),
  ]);
  const store = { db: createDocumentClient(), tableName };
  return (runnerName: string, jobId: string) => {
    const id = Number(jobId);
    return Number.isSafeInteger(id)
      ? claimSpeculativeStart(store, runnerName, id, Date.now(), "driver")
      : Promise.resolve(true);
  };
}

/** In a manager task, where the driver records each job's recipe for the next job of its name. */
async function recipeRecorderFromEnv(env: NodeJS.ProcessEnv): Promise<DriverContext["onJobRecipe"]> {
  if (!env.SGR_RESOURCES || !env.SGR_MANAGER_TASK_ID) return undefined;
  const [{ createDocumentClient }, { loadResourcesFromEnv }, { recordJobRecipe }] = await Promise.all([
    import("../../config/aws-clients.js"),
    import("../../config/load.js"),
    import("../../state/job-shapes.js"),
  ]);
  const store = { db: createDocumentClient(), tableName: loadResourcesFromEnv(env).stateTableName };
  return (key, recipe, ttlMs) => recordJobRecipe(store, key, recipe, Date.now(), ttlMs);
}

/** In a manager task (SGR_RESOURCES and SGR_MANAGER_TASK_ID set) the state table counts its running jobs. */
async function jobCounterFromEnv(env: NodeJS.ProcessEnv): Promise<JobCounter | undefined> {
  if (!env.SGR_RESOURCES || !env.SGR_MANAGER_TASK_ID) return undefined;
  const [{ createDocumentClient }, { loadResourcesFromEnv }, { stateTableJobCounter }] = await Promise.all([
    import("../../config/aws-clients.js"),
    import("../../config/load.js"),
    import("../../state/job-counter.js"),
  ]);
  const db = createDocumentClient();
  return stateTableJobCounter(db, loadResourcesFromEnv(env).stateTableName);
}

export async function startDriverDaemon(options: DriverDaemonOptions = {}): Promise<DriverDaemon> {
  const logger = createLogger("sgr-driver");
  const jobCounter = options.jobCounter ?? (await jobCounterFromEnv(process.env));
  const agentBinary =
    options.agentBinary ??
    process.env.SGR_AGENT_BINARY ??
    fileURLToPath(new URL("../agent/sgr-agent", import.meta.url));
  const backends = new Map<string, Promise<Backend>>();
  const settingsCache = new Map<string, RunnerJobSettings>();

  const context: DriverContext = {
    jobs: new Map<string, JobState>(),
    instanceId: randomBytes(4).toString("hex"),
    agentWaitMs: options.agentWaitMs,
    metrics: options.metrics ?? createEmfWriter({ service: MANAGER_METRIC_SERVICE }),
    onJobStarted: jobCounter ? (identity) => jobCounter.started(identity) : undefined,
    onJobFinished: jobCounter ? (identity) => jobCounter.finished(identity) : undefined,
    onJobRecipe: options.onJobRecipe ?? (await recipeRecorderFromEnv(process.env)),
    onJobTaskSized: jobCounter?.taskSized
      ? (identity, task) => jobCounter.taskSized?.(identity, task) ?? Promise.resolve()
      : undefined,
    log: (level, message, detail) => logger[level](message, detail ?? {}),
    backend: (env) => {
      const name = env.SGR_DRIVER_BACKEND || "fargate";
      if (name !== "local" && name !== "fargate") {
        return Promise.reject(
          new Error(`SGR_DRIVER_BACKEND must be local or fargate, not ${JSON.stringify(name)}`),
        );
      }
      const given = options.backends?.[name];
      if (given) return Promise.resolve(given);
      // One backend per kind and settings: the fargate task-definition cache is shared by every job.
      const key = name === "local" ? `local:${env.SGR_LOCAL_DIR}:${env.SGR_LOCAL_IMAGES}` : "fargate";
      let backend = backends.get(key);
      if (!backend) {
        backend =
          name === "local" ? Promise.resolve(localBackendFrom(env, agentBinary)) : fargateBackendFrom(env);
        backend.catch(() => backends.delete(key));
        backends.set(key, backend);
      }
      return backend;
    },
    jobSettings: (env) => {
      const key = `${env.SGR_CONFIG ?? ""}\0${env.SGR_RUNNER_NAME ?? ""}`;
      const cached = settingsCache.get(key);
      if (cached) return cached;
      let jobs = jobSettingsSchema.parse({});
      if (env.SGR_CONFIG) {
        const config = loadConfigFromEnv(env as NodeJS.ProcessEnv);
        const runner = config.runners.find((r) => r.name === env.SGR_RUNNER_NAME) ?? config.runners[0];
        if (runner) jobs = runner.jobs;
      }
      const settings: RunnerJobSettings = { ...jobs };
      settingsCache.set(key, settings);
      return settings;
    },
  };

  const server = await listenDaemon(context, options.socketPath ?? socketPathFrom(process.env));
  logger.info("driver daemon listening", { socketPath: server.socketPath });
  return { ...server, context };
}
