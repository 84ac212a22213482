/**
 * The fargate backend: each job runs as its own ECS Fargate task (helper + the user's image + services), started
 * with RunTask from a cached per-shape task definition; size, capacity and the job's secret are run-time overrides.
 * Domain code: the ECS client and the task-definition cache are passed in, never constructed here.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "@aws-lambda-powertools/logger";
import {
  type ContainerOverride,
  DescribeTasksCommand,
  ListTasksCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
  type Task,
  type TaskOverride,
} from "@aws-sdk/client-ecs";
import { AGENT_CHANNEL_PORT } from "../../../config/ports.js";
import type { Architecture, JobCapacity } from "../../../config/schema.js";
import type { ChannelSecretStore } from "../../../fargate/channel-secrets.js";
import { batches, type EcsApi, errorMessage, isThrottling, sleep } from "../../../fargate/ecs.js";
import { AGENT_ENV, JOB_TASK_TAGS, startedByFor, tagValue } from "../../../fargate/job-task-names.js";
import {
  CapacityUnavailableError,
  isCapacityUnavailable,
  RunTaskFailedError,
  runOneTask,
  withSpotFallback,
} from "../../../fargate/run-task.js";
import { type JobTaskRecipe, sizeOverrides } from "../../../fargate/speculative-task.js";
import type { Backend, JobIdentity, StartedTask, StartTaskRequest, TaskState } from "../../backend.js";
import { HELPER_CONTAINER } from "./layout.js";
import { fargateSizeProblem } from "./sizes.js";
import { adoptSpeculativeTask, billedFromMs } from "./speculative-adoption.js";
import type { ResolvedTaskDefinition, TaskDefinitionCache } from "./task-definitions.js";
import { taskStateOf } from "./task-state.js";

export { AGENT_ENV, JOB_TASK_TAGS };

/** ECS rejects RunTask overrides longer than this (characters of JSON, formatting included). */
export const MAX_OVERRIDES_CHARS = 8192;

/** Raised for a job task that cannot be started; `message` is written to the job log as the system failure reason. */
export class FargateBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FargateBackendError";
  }
}

export interface FargateBackendOptions {
  ecs: EcsApi;
  /** Cluster name or ARN. */
  cluster: string;
  subnetIds: readonly string[];
  /** Job security groups: accept only the manager's channel on the agent port. */
  securityGroupIds: readonly string[];
  assignPublicIp: boolean;
  taskDefinitions: Pick<TaskDefinitionCache, "resolve" | "invalidate">;
  /**
   * The deployed helper image for a job architecture (resources.helperImages / helperImage). When it gives one, it
   * replaces the shape's helperImage: the deployment, not the driver's default, knows which image ECS can pull.
   */
  helperImageFor?: (architecture: Architecture) => string | undefined;
  /** The deployment's ECS Managed Instances capacity provider (resources.managedInstancesCapacityProvider), if any. */
  managedInstancesCapacityProvider?: string;
  /** Its GPU instances' capacity provider (resources.managedInstancesGpuCapacityProvider), if any. */
  managedInstancesGpuCapacityProvider?: string;
  /**
   * Secret files of speculative tasks (resources.channelSecretsBucketName): with it the backend adopts a task
   * scale-up started for the job, or stops one that does not fit; without it it never looks for one.
   */
  channelSecrets?: ChannelSecretStore;
  /** Claims a job's one speculative start before scale-up does (speculative-adoption.ts `claimStart`). */
  claimSpeculativeStart?: (runnerName: string, jobId: string) => Promise<boolean>;
  /** Port the agent listens on (default AGENT_CHANNEL_PORT). */
  agentPort?: number;
  logger?: Pick<Logger, "info" | "warn">;
  /** How long startTask waits for the task's network address (default 5 minutes: ENI attachment can be slow). */
  addressTimeoutMs?: number;
  /** First DescribeTasks interval while waiting; it doubles up to 5 s. */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export { startedByFor };

export function jobTaskTags(identity: JobIdentity): { key: string; value: string }[] {
  return [
    { key: JOB_TASK_TAGS.runner, value: tagValue(identity.runnerName) },
    { key: JOB_TASK_TAGS.managerTask, value: tagValue(identity.managerTaskId) },
    { key: JOB_TASK_TAGS.projectId, value: tagValue(identity.projectId) },
    { key: JOB_TASK_TAGS.jobId, value: tagValue(identity.jobId) },
  ];
}

/** Each service's variables as its container's environment override (sorted: equal jobs, equal requests). */
function serviceOverrides(request: StartTaskRequest): ContainerOverride[] {
  return request.shape.services.flatMap((service) => {
    const names = Object.keys(service.environment ?? {}).sort();
    if (names.length === 0) return [];
    return [
      { name: service.name, environment: names.map((name) => ({ name, value: service.environment![name] })) },
    ];
  });
}

/**
 * The RunTask overrides of a job: size, storage, the agent's secret and job identity as the helper's environment,
 * and the services' variables as theirs.
 */
export function jobTaskOverrides(request: StartTaskRequest): TaskOverride {
  const { size } = request.settings;
  const { identity } = request;
  // Managed Instances tasks use the instance's task volume (the capacity provider's storage setting) instead.
  const storage = request.settings.capacity === "MANAGED_INSTANCES" ? 0 : size.ephemeralStorageGiB;
  const overrides: TaskOverride = {
    ...sizeOverrides({ cpu: size.cpu, memoryMiB: size.memoryMiB, ephemeralStorageGiB: storage }),
    containerOverrides: [
      {
        name: HELPER_CONTAINER,
        environment: [
          { name: AGENT_ENV.secret, value: request.agentSecret },
          { name: AGENT_ENV.runnerName, value: identity.runnerName },
          { name: AGENT_ENV.projectId, value: identity.projectId },
          { name: AGENT_ENV.jobId, value: identity.jobId },
          { name: AGENT_ENV.managerTaskId, value: identity.managerTaskId },
        ],
      },
      ...serviceOverrides(request),
    ],
  };
  const length = JSON.stringify(overrides).length;
  if (length > MAX_OVERRIDES_CHARS) {
    throw new FargateBackendError(
      `the job task's RunTask overrides are ${length} characters, above ECS's limit of ${MAX_OVERRIDES_CHARS}` +
        " (service variables are part of them: shorten or drop some)",
    );
  }
  return overrides;
}

/**
 * RunTask idempotency token (≤ 64 chars): the same request retried (SDK retry, throttling) starts one task,
 * while a new preparation attempt (new secret) or the on-demand fallback gets a new task.
 */
function clientTokenFor(request: StartTaskRequest, capacity: JobCapacity): string {
  const { identity } = request;
  return createHash("sha256")
    .update(
      [
        identity.runnerName,
        identity.projectId,
        identity.jobId,
        identity.managerTaskId,
        capacity,
        request.agentSecret,
      ].join("\n"),
    )
    .digest("hex");
}

/**
 * What the job's task is started with, as a recipe scale-up can start the next job of its name from; undefined for
 * a job a speculative start cannot serve: services with variables (they may hold CI secrets, never recorded) and
 * Managed Instances (privileged or GPU work waits for the driver).
 */
export function recipeOf(request: StartTaskRequest, taskDefinitionArn: string): JobTaskRecipe | undefined {
  const { size, capacity } = request.settings;
  if (capacity === "MANAGED_INSTANCES" || serviceOverrides(request).length > 0) return undefined;
  return {
    taskDefinitionArn,
    cpu: size.cpu,
    memoryMiB: size.memoryMiB,
    ephemeralStorageGiB: size.ephemeralStorageGiB,
    capacity,
    architecture: request.shape.architecture,
    image: request.shape.build.image,
    services: request.shape.services.map((s) => s.image),
  };
}

/** The task's private IPv4 address, once its ENI is attached. */
export function privateAddressOf(task: Task): string | undefined {
  for (const attachment of task.attachments ?? []) {
    const address = attachment.details?.find((d) => d.name === "privateIPv4Address")?.value;
    if (address) return address;
  }
  for (const container of task.containers ?? []) {
    const address = container.networkInterfaces?.find((n) => n.privateIpv4Address)?.privateIpv4Address;
    if (address) return address;
  }
  return undefined;
}

function tagOf(task: Task, key: string): string | undefined {
  return task.tags?.find((t) => t.key === key)?.value;
}

function secretOf(task: Task): string | undefined {
  const helper = task.overrides?.containerOverrides?.find((c) => c.name === HELPER_CONTAINER);
  return helper?.environment?.find((e) => e.name === AGENT_ENV.secret)?.value;
}

function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function isInactiveDefinition(err: unknown): boolean {
  return /task ?definition.*(inactive|does not exist|not found)|(inactive|unable to find).*task ?definition/i.test(
    errorMessage(err),
  );
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("job task start was cancelled");
}

export class FargateBackend implements Backend {
  readonly name = "fargate" as const;
  private readonly wait: (ms: number) => Promise<void>;

  constructor(private readonly options: FargateBackendOptions) {
    this.wait = options.sleep ?? sleep;
  }

  async startTask(request: StartTaskRequest, signal?: AbortSignal): Promise<StartedTask> {
    const sizeProblem = fargateSizeProblem(request.settings.size);
    if (sizeProblem) throw new FargateBackendError(sizeProblem);
    const earlier = await this.findLiveTask(request.identity);
    if (earlier?.taskArn) {
      // A retried prepare: the same request reuses its task; a new attempt (new secret) replaces the old one.
      if (sameSecret(secretOf(earlier), request.agentSecret)) return this.reachable(earlier, signal);
      await this.stopTask(earlier.taskArn, "replaced by a new preparation attempt of the same job");
    }
    const deployedHelper = this.options.helperImageFor?.(request.shape.architecture);
    const shape = deployedHelper ? { ...request.shape, helperImage: deployedHelper } : request.shape;
    const definition = await this.options.taskDefinitions.resolve(shape);
    const adopted = await this.adopt(request, recipeOf(request, definition.arn), signal);
    if (adopted) return adopted;
    try {
      return await this.launchRecorded(request, definition, signal);
    } catch (err) {
      if (!isInactiveDefinition(err)) throw err;
      // The janitor retired this definition after we cached it: resolve (register) afresh, once.
      this.options.taskDefinitions.invalidate(definition.family);
      this.options.logger?.warn("cached task definition is inactive; resolving again", {
        family: definition.family,
      });
      return this.launchRecorded(request, await this.options.taskDefinitions.resolve(shape), signal);
    }
  }

  /** Starts the job's task and says what it was started with (its recipe), for the next job of the same name. */
  private async launchRecorded(
    request: StartTaskRequest,
    definition: ResolvedTaskDefinition,
    signal: AbortSignal | undefined,
  ): Promise<StartedTask> {
    const started = await this.launchWithFallback(request, definition, signal);
    return { ...started, recipe: recipeOf(request, definition.arn) };
  }

  /** The job's speculative task, adopted and reachable, or undefined (none, none that fits, or it died waiting). */
  private async adopt(
    request: StartTaskRequest,
    recipe: JobTaskRecipe | undefined,
    signal: AbortSignal | undefined,
  ): Promise<StartedTask | undefined> {
    const secrets = this.options.channelSecrets;
    if (!secrets) return undefined;
    const found = await adoptSpeculativeTask(
      {
        ecs: this.options.ecs,
        cluster: this.options.cluster,
        secrets,
        stopTask: (taskArn, reason) => this.stopTask(taskArn, reason),
        logger: this.options.logger,
        claimStart: this.options.claimSpeculativeStart,
        sleep: this.wait,
      },
      request.identity,
      recipe,
      (task, reason, priced, seconds) => {
        request.notice?.(`Stopped the job task started ahead of the job (${reason.replace(/^sgr: /, "")})`);
        request.onSpeculative?.({
          outcome: "replaced",
          taskId: task.taskArn!,
          reason,
          task: priced,
          seconds,
        });
      },
    ).catch((err: unknown) => {
      // Looking is an optimisation: a failure here must not fail the job, which starts its own task instead.
      this.options.logger?.warn("could not look for a speculative job task", { error: errorMessage(err) });
      return undefined;
    });
    if (!found) return undefined;
    try {
      const reached = await this.reachable(found.task, signal, found.capacity);
      request.notice?.(`Adopted job task ${found.task.taskArn}, started when the job was queued`);
      request.onSpeculative?.({ outcome: "adopted", taskId: found.task.taskArn! });
      return {
        ...reached,
        capacity: found.capacity,
        publicIpv4: this.publicIpFor(found.capacity),
        agentSecret: found.secret,
        billedFromMs: billedFromMs(found.task),
        recipe,
        afterConnect: () => secrets.remove(found.secretFileArn),
      };
    } catch (err) {
      if (signal?.aborted) throw err;
      this.options.logger?.warn("the adopted speculative task is gone; starting the job's own", {
        error: errorMessage(err),
      });
      await this.stopTask(found.task.taskArn!, "sgr: speculative job task not reachable").catch(
        () => undefined,
      );
      return undefined;
    }
  }

  async describeTask(taskId: string): Promise<TaskState> {
    return taskStateOf(await this.describeOne(taskId));
  }

  async stopTask(taskId: string, reason: string): Promise<void> {
    try {
      // StopTask's reason is shown in the console and in DescribeTasks; ECS keeps 255 characters of it.
      await this.options.ecs.send(
        new StopTaskCommand({ cluster: this.options.cluster, task: taskId, reason: reason.slice(0, 255) }),
      );
    } catch (err) {
      // Already gone (unknown id, stopped long ago) is what we wanted; anything else about a live task is real.
      const failed = new FargateBackendError(`could not stop job task ${taskId}: ${errorMessage(err)}`, {
        cause: err,
      });
      let task: Task | undefined;
      try {
        task = await this.describeOne(taskId);
      } catch {
        throw failed; // cannot tell whether it is gone: say the stop failed
      }
      if (task === undefined || task.lastStatus === "STOPPED" || task.desiredStatus === "STOPPED") return;
      throw failed;
    }
  }

  async findTask(identity: JobIdentity): Promise<string | undefined> {
    return (await this.findLiveTask(identity))?.taskArn;
  }

  /** A not-yet-stopped task of this job, found by its manager (`startedBy`) and its job tags. */
  private async findLiveTask(identity: JobIdentity): Promise<Task | undefined> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.options.ecs.send(
        new ListTasksCommand({
          cluster: this.options.cluster,
          startedBy: startedByFor(identity.managerTaskId),
          desiredStatus: "RUNNING",
          nextToken,
        }),
      );
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const tags = jobTaskTags(identity);
    for (const batch of batches(arns, 100)) {
      const described = await this.options.ecs.send(
        new DescribeTasksCommand({ cluster: this.options.cluster, tasks: batch, include: ["TAGS"] }),
      );
      const match = (described.tasks ?? []).find(
        (task) =>
          tags.every((tag) => tagOf(task, tag.key) === tag.value) && taskStateOf(task).state !== "stopped",
      );
      if (match) return match;
    }
    return undefined;
  }

  private async describeOne(taskId: string): Promise<Task | undefined> {
    const described = await this.options.ecs.send(
      new DescribeTasksCommand({ cluster: this.options.cluster, tasks: [taskId], include: ["TAGS"] }),
    );
    return described.tasks?.[0];
  }

  private async launchWithFallback(
    request: StartTaskRequest,
    definition: ResolvedTaskDefinition,
    signal: AbortSignal | undefined,
  ): Promise<StartedTask> {
    // Managed Instances have no fallback: a privileged or GPU job cannot run on Fargate.
    if (request.settings.capacity === "MANAGED_INSTANCES") {
      return this.launch(request, definition, "MANAGED_INSTANCES", signal);
    }
    try {
      const started = await withSpotFallback(
        request.settings.capacity,
        (capacity) => this.launch(request, definition, capacity, signal),
        (reason) => {
          request.notice?.(
            `Fargate Spot has no capacity for this job right now (${reason}); running it on on-demand Fargate instead`,
          );
          this.options.logger?.info("spot capacity unavailable, falling back to on-demand", {
            jobId: request.identity.jobId,
          });
        },
      );
      // Said on the result too: the job is priced at the capacity it really ran on (JobTaskCostUsd).
      return started.spotFallback ? { ...started.value, capacity: "FARGATE" } : started.value;
    } catch (err) {
      if (err instanceof CapacityUnavailableError) throw new FargateBackendError(err.message, { cause: err });
      throw err;
    }
  }

  /** RunTask on one capacity provider, then wait until the task has an address the driver can connect to. */
  private async launch(
    request: StartTaskRequest,
    definition: ResolvedTaskDefinition,
    capacity: JobCapacity,
    signal: AbortSignal | undefined,
  ): Promise<StartedTask> {
    if (signal?.aborted) throw abortError(signal);
    const capacityProvider = this.capacityProviderFor(capacity, request.shape.managedInstances?.gpus ?? 0);
    const input: RunTaskCommandInput = {
      cluster: this.options.cluster,
      taskDefinition: definition.arn,
      count: 1,
      capacityProviderStrategy: [{ capacityProvider, weight: 1 }],
      overrides: jobTaskOverrides(request),
      startedBy: startedByFor(request.identity.managerTaskId),
      tags: jobTaskTags(request.identity),
      // The channel to our agent replaces ECS Exec; keep that door shut.
      enableExecuteCommand: false,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: [...this.options.subnetIds],
          securityGroups: [...this.options.securityGroupIds],
          assignPublicIp: this.publicIpFor(capacity) ? "ENABLED" : "DISABLED",
        },
      },
      clientToken: clientTokenFor(request, capacity),
    };
    const task = await runOneTask(this.options.ecs, input, {
      retry: { attempts: 6, baseDelayMs: 250, maxDelayMs: 5000, isRetryable: isThrottling, sleep: this.wait },
      signal,
    }).catch((err: unknown) => {
      if (!(err instanceof RunTaskFailedError)) throw err;
      throw new FargateBackendError(
        `ECS did not start the job task: ${err.reasons[0] || "no task and no reason returned"}`,
      );
    });
    this.options.logger?.info("job task started", {
      taskArn: task.taskArn,
      family: definition.family,
      capacity,
      jobId: request.identity.jobId,
    });
    const started = await this.reachable(task, signal, capacity);
    return { ...started, publicIpv4: this.publicIpFor(capacity) };
  }

  /** Fargate tasks get a public address where the deployment gives one; Managed Instances tasks never do. */
  private publicIpFor(capacity: JobCapacity): boolean {
    return this.options.assignPublicIp && capacity !== "MANAGED_INSTANCES";
  }

  /** The ECS capacity provider of a job capacity: Fargate's own, or the deployment's Managed Instances one. */
  private capacityProviderFor(capacity: JobCapacity, gpus: number): string {
    if (capacity !== "MANAGED_INSTANCES") return capacity;
    const provider =
      gpus > 0
        ? this.options.managedInstancesGpuCapacityProvider
        : this.options.managedInstancesCapacityProvider;
    if (!provider) {
      throw new FargateBackendError(
        `this job needs ECS Managed Instances${gpus > 0 ? " with GPUs" : ""}, but this deployment has no such ` +
          `capacity provider (the construct's managedInstances${gpus > 0 ? ".gpu" : ""} option)`,
      );
    }
    return provider;
  }

  /** Polls DescribeTasks (backing off) until the task's ENI has an address; stops the task on timeout or cancel. */
  private async reachable(
    first: Task,
    signal: AbortSignal | undefined,
    capacity?: JobCapacity,
  ): Promise<StartedTask> {
    const taskArn = first.taskArn!;
    const port = this.options.agentPort ?? AGENT_CHANNEL_PORT;
    const deadline = Date.now() + (this.options.addressTimeoutMs ?? 300_000);
    let interval = this.options.pollIntervalMs ?? 500;
    let task: Task | undefined = first;
    for (;;) {
      if (task) {
        const host = privateAddressOf(task);
        if (host) return { taskId: taskArn, endpoint: { host, port } };
        const state = taskStateOf(task);
        if (state.state === "stopped") {
          if (capacity === "FARGATE_SPOT" && isCapacityUnavailable(task.stoppedReason)) {
            throw new CapacityUnavailableError(task.stoppedReason ?? "capacity unavailable");
          }
          throw new FargateBackendError(`the job task stopped before it could be reached: ${state.reason}`);
        }
      }
      if (signal?.aborted) {
        await this.stopTask(taskArn, "job cancelled while its task was starting");
        throw abortError(signal);
      }
      if (Date.now() >= deadline) {
        await this.stopTask(taskArn, "no network address within the start timeout");
        throw new FargateBackendError(
          `the job task ${taskArn} got no network address in time; it was stopped`,
        );
      }
      await this.wait(interval);
      interval = Math.min(interval * 2, 5000);
      task = await this.describeOne(taskArn).catch((err: unknown) => {
        // A passing DescribeTasks failure is no reason to give up on the task: poll again until the deadline.
        this.options.logger?.warn("DescribeTasks failed while waiting for the job task", {
          taskArn,
          error: errorMessage(err),
        });
        return undefined;
      });
    }
  }
}
