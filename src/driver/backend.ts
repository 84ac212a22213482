/**
 * The seam between the driver's stages and where a job's task actually runs. Two implementations:
 * `fargate` (ECS through the AWS SDK) and `local` (this machine: helper side as processes, user side in a
 * busybox-only chroot), both running the same agent and channel code, so tests of `local` exercise the
 * same protocol production uses.
 */
import type { Architecture, JobCapacity, TaskSize } from "../config/schema.js";
import type { JobTaskRecipe } from "../fargate/speculative-task.js";
import type { PricedTask } from "../observability/cost.js";
import type { JobIdentity } from "../state/job-task-size.js";

/** One container the job task runs besides the helper: the user's image, or a service. */
export interface ContainerSpec {
  /** Container name inside the task: `build`, or `svc-<n>` for services. */
  name: string;
  image: string;
  /** Image entrypoint override from `image:entrypoint` / `services:entrypoint` (undefined = image default). */
  entrypoint?: string[];
  /** `command` for services (undefined = image default). */
  command?: string[];
  /** Service aliases (hostnames the build should reach it by). */
  aliases?: string[];
  /**
   * Service variables, expanded: a run-time setting (RunTask container overrides on Fargate), never part of a task
   * definition or of the shape's hash.
   */
  environment?: Record<string, string>;
  /** `docker.user` / `kubernetes.user` from the job payload, if any. */
  user?: string;
}

/** Everything that identifies a job task's shape: equal specs share one cached task definition. */
export interface JobTaskShape {
  build: ContainerSpec;
  services: ContainerSpec[];
  architecture: Architecture;
  /** Runs on ECS Managed Instances (undefined: Fargate): privileged containers and GPUs are possible only there. */
  managedInstances?: ManagedInstancesShape;
  /** Helper image (git, git-lfs, gitlab-runner, agent) and its version, part of the cache key. */
  helperImage: string;
  /**
   * Registry credentials by registry host (`jobs.registryCredentials`): Secrets Manager ARNs, each attached as
   * `repositoryCredentials` only to the containers whose image is on its host.
   */
  registryCredentials?: Readonly<Record<string, string>>;
}

export interface ManagedInstancesShape {
  /** The build container and the services run privileged (GitLab's `privileged = true`). */
  privileged: boolean;
  /** GPUs reserved for the build container (0: none). */
  gpus: number;
}

/** Per-run settings: never part of the task definition, applied as RunTask overrides. */
export interface JobRunSettings {
  size: TaskSize;
  capacity: JobCapacity;
}

/** Identifies the job a task belongs to (tags, logs, janitor). */
export type { JobIdentity };

/** How the driver reaches the agent in a started task, and proves who it is. */
export interface AgentEndpoint {
  host: string;
  port: number;
}

export interface StartedTask {
  /** Backend-specific task id (an ECS task ARN, or a local id). */
  taskId: string;
  endpoint: AgentEndpoint;
  /** Capacity the task runs on when it differs from the one asked for (Spot had no capacity: on-demand). */
  capacity?: JobCapacity;
  /** The task holds a public IPv4 address (billed per hour while it runs). */
  publicIpv4?: boolean;
  /** The secret the agent holds, when it is not the request's (an adopted speculative task's). */
  agentSecret?: string;
  /** When the task began to bill, when that was well before startTask returned (an adopted task). */
  billedFromMs?: number;
  /** What the task was started with, for the next job of the same name (absent: not one to start speculatively). */
  recipe?: JobTaskRecipe;
  /** To run once the driver's channel to the agent is open (an adopted task: its secret file is no longer needed). */
  afterConnect?(): Promise<void>;
}

/** What happened to a job's speculatively started task (src/fargate/speculative-task.ts). */
export type SpeculativeEvent =
  | { outcome: "adopted"; taskId: string }
  | { outcome: "replaced"; taskId: string; reason: string; task: PricedTask; seconds: number };

export type TaskState =
  | { state: "starting" }
  | { state: "running" }
  | { state: "stopped"; reason: string; exitCode?: number };

export interface StartTaskRequest {
  identity: JobIdentity;
  shape: JobTaskShape;
  settings: JobRunSettings;
  /** Per-job secret the agent authenticates the channel with; reaches the task only through a run-time override. */
  agentSecret: string;
  /** Receives lines for the job log about how the task was started (e.g. Spot had no capacity: on-demand instead). */
  notice?: (line: string) => void;
  /** Told when a speculative task of this job was adopted or stopped. */
  onSpeculative?: (event: SpeculativeEvent) => void;
}

export interface Backend {
  readonly name: "fargate" | "local";
  /** Starts the job's task (registering/caching its definition as needed). Idempotent per job identity. */
  startTask(request: StartTaskRequest, signal?: AbortSignal): Promise<StartedTask>;
  /** Current state; the driver polls this while waiting for the agent and when a channel drops. */
  describeTask(taskId: string): Promise<TaskState>;
  /** Stops the task. Never throws for a task that is already gone. */
  stopTask(taskId: string, reason: string): Promise<void>;
  /** Finds a task already started for this job (prepare retries reap or reuse it). */
  findTask(identity: JobIdentity): Promise<string | undefined>;
  /**
   * Where builds and cache live inside the job's task (same path in helper and build containers). Default
   * `/builds` and `/cache`; the local backend answers per-job host paths.
   */
  jobPaths?(identity: JobIdentity): { buildsDir: string; cacheDir: string };
  /** Ports a service image listens on when the job payload names none (local backend: from its image map). */
  servicePorts?(image: string): number[];
  /** The end of the task's own log, for an error that would otherwise say only "did not answer". */
  taskLogTail?(taskId: string): Promise<string | undefined>;
}
