/** What every stage function gets: the stage's I/O and environment, and the daemon's long-lived state. */
import { hostname } from "node:os";
import type { PricedTask } from "../../observability/cost.js";
import type { EmfWriter } from "../../observability/emf.js";
import type { Backend, JobIdentity } from "../backend.js";
import type { AgentChannel } from "../channel/agent-channel.js";
import type { StageEnv } from "../job-spec.js";
import type { PlacementCaps } from "../placement.js";
import type { JobCaps } from "../sizing.js";

export interface StageIO {
  env: StageEnv;
  /**
   * Job log (run/prepare) or JSON output (config). Returns false when the client is not keeping up. `written` (if
   * given) is called once the bytes are no longer referenced, so their buffer can be reused.
   */
  stdout(data: string | Buffer | Buffer[], written?: () => void): boolean;
  stderr(data: string | Buffer): boolean;
  /** Resolves when the client has taken what was written (backpressure for large job logs). */
  drained(): Promise<void>;
  /** Aborted when gitlab-runner signals the stage process (cancel, timeout) or the client goes away. */
  cancelled: AbortSignal;
}

/** The daemon's state for one job between its stage processes. */
export interface JobState {
  identity: JobIdentity;
  backend: Backend;
  taskId: string;
  channel: AgentChannel;
  /** Numbers the steps of this job (unique step ids even when a stage is retried). */
  steps: number;
  /** When the job started (CI_JOB_STARTED_AT, else prepare's start), for the queue-to-start phase metrics. */
  startedAtMs?: number;
  /** The first-script-byte metric was emitted for this job (once per job). */
  firstScriptByteSeen?: boolean;
  /** What the job's task runs as and since when, for its cost at cleanup (absent for a job recovered after a restart). */
  usage?: JobTaskUsage;
}

/** The size, architecture and capacity a job's task really got (after any Spot → on-demand fallback). */
export interface JobTaskUsage {
  task: PricedTask;
  /** When startTask returned (the task had its address: Fargate bills from about then). */
  startedAtMs: number;
  /** JobTaskCostUsd was emitted (once per job, however often cleanup runs). */
  costEmitted?: boolean;
}

export interface RunnerJobSettings extends JobCaps, PlacementCaps {
  defaultImage: string;
  /** Registry host → Secrets Manager ARN (`jobs.registryCredentials`); absent: none configured. */
  registryCredentials?: Readonly<Record<string, string>>;
}

export interface DriverContext {
  jobs: Map<string, JobState>;
  /** Random per daemon process: part of step ids (see run.ts). */
  instanceId: string;
  /** The backend a job uses (SGR_DRIVER_BACKEND of the stage's environment). */
  backend(env: StageEnv): Promise<Backend>;
  /** The runner configuration's job settings (caps, defaults). */
  jobSettings(env: StageEnv): RunnerJobSettings;
  log: (level: "info" | "warn" | "error", message: string, detail?: Record<string, unknown>) => void;
  /** Optional hooks recording the job on the manager's state-table record (`runningJobIds`, job-counter.ts). */
  onJobStarted?(identity: JobIdentity): Promise<void>;
  onJobFinished?(identity: JobIdentity): Promise<void>;
  /** Optional hook recording the size a job's task really got on the job's state-table record. */
  onJobTaskSized?(identity: JobIdentity, task: PricedTask): Promise<void>;
  /** Queue-to-start phase metrics (EMF lines on the daemon's stdout); absent: not measured. */
  metrics?: EmfWriter;
  /** How long prepare waits for the task's agent (image pulls can take minutes on Fargate). */
  agentWaitMs?: number;
}

export function identityFrom(env: StageEnv): JobIdentity {
  const jobId = env.CUSTOM_ENV_CI_JOB_ID;
  if (!jobId || !/^\d+$/.test(jobId)) {
    throw new Error(
      "CUSTOM_ENV_CI_JOB_ID is missing: this must run as a gitlab-runner custom executor stage",
    );
  }
  return {
    runnerName: env.SGR_RUNNER_NAME || "local",
    projectId: env.CUSTOM_ENV_CI_PROJECT_ID || "0",
    jobId,
    managerTaskId: env.SGR_MANAGER_TASK_ID || hostname(),
  };
}

/** Key of a job in the daemon (a job id is unique per GitLab instance; runners of one manager share it). */
export function jobKey(identity: JobIdentity): string {
  return `${identity.runnerName}/${identity.jobId}`;
}

export const line = (text: string) => `${text}\n`;
