/**
 * One emulated Fargate task: its ECS record (what DescribeTasks shows) and the real containers behind it, in a
 * podman pod on the host network with the task's own 127.0.0.N address. The lifecycle follows ECS:
 * PROVISIONING → PENDING (ENI attached, images pulled, secrets resolved) → RUNNING → STOPPING →
 * DEPROVISIONING → STOPPED, each change put on EventBridge as an "ECS Task State Change" event.
 */
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import type { Container, ContainerDefinition, Task, TaskDefinition } from "@aws-sdk/client-ecs";
import { awslogsTarget, LogGroupMissingError, LogShipper, prepareStream } from "./awslogs.js";
import { containerCreateArgs, podmanEnvironment } from "./container-args.js";
import { readEnvironmentFiles } from "./environment-files.js";
import type { TaskEvents } from "./events.js";
import type { ExitWatcher } from "./exit-watcher.js";
import { runHealthChecks } from "./health-check.js";
import { ImagePullError, imageFacts, ociArchitecture, pullImage } from "./images.js";
import type { LoopbackAddressPool } from "./ip-pool.js";
import { managedInstancesCreateArgs } from "./managed-instances.js";
import type { MotoClients } from "./moto-clients.js";
import { INSTANCE_LABEL, podman } from "./podman.js";
import { type PhaseDelays, pullDelayMs } from "./profiles.js";
import { resolveSecrets, SecretResolutionError } from "./secrets.js";

export interface RuntimeContext {
  instance: string;
  clients: MotoClients;
  delays: PhaseDelays;
  events: TaskEvents;
  pool: LoopbackAddressPool;
  /** The proxy's own endpoint (task metadata and credentials are served there). */
  endpoint(): string;
  /** Extra environment for every container (e.g. AWS_ENDPOINT_URL to reach the emulated AWS). */
  containerEnvironment: Record<string, string>;
  /** Variables set to the task's private address in every container (e.g. the address a server binds). */
  taskAddressEnv: readonly string[];
  /** A fault asked for this task: it stays PENDING until stopped. */
  stuckInPending: boolean;
  /** Container exits of the instance. */
  exits: ExitWatcher;
  /** Directory for the containers' log files (removed with the instance). */
  logDir: string;
}

const OOM_REASON = "OutOfMemoryError: Container killed due to memory usage";
const ESSENTIAL_EXITED = "Essential container in task exited";
const SPOT_INTERRUPTED = "Your Spot Task was interrupted.";
/** Fargate's default and maximum stopTimeout (seconds). */
const DEFAULT_STOP_TIMEOUT_S = 30;
const MAX_STOP_TIMEOUT_S = 120;

type StopCode = "TaskFailedToStart" | "EssentialContainerExited" | "UserInitiated" | "SpotInterruption";

class Stopped extends Error {}
class StartFailure extends Error {}

interface ContainerRun {
  def: ContainerDefinition;
  state: Container;
  podmanName: string;
  environment: Record<string, string>;
  isStarted: boolean;
  started: Promise<void>;
  markStarted: () => void;
  exited: Promise<number>;
  markExited: (code: number) => void;
  healthy: Promise<boolean>;
  markHealth: (healthy: boolean) => void;
  hasExited: boolean;
  logsShipped?: Promise<void>;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  promise.catch(() => undefined);
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface TaskLaunch {
  arn: string;
  clusterArn: string;
  definition: TaskDefinition;
  cpu: number;
  memory: number;
  ephemeralGiB: number;
  /** FARGATE, FARGATE_SPOT or a Managed Instances capacity provider (managed-instances.ts). */
  capacityProvider: string;
  launchType?: "FARGATE";
  overrides: Task["overrides"];
  startedBy?: string;
  group: string;
  tags: { key?: string; value?: string }[];
  subnetId: string;
  enableExecuteCommand: boolean;
  /** Managed Instances: the instance launch this task waits for while PROVISIONING (0: an instance is up). */
  instanceStartMs?: number;
}

export class TaskRuntime {
  readonly task: Task;
  readonly id: string;
  tags: { key?: string; value?: string }[];
  private version = 1;
  private readonly containers: ContainerRun[];
  private readonly stopRequest = deferred<{ code: StopCode; reason: string }>();
  private stopping?: { code: StopCode; reason: string };
  private readonly killedByUs = new Set<string>();
  private readonly pod: string;
  private address?: string;
  private readonly volumes = new Map<string, string>();
  /** Resolves once the task is STOPPED and nothing of it is left. */
  readonly finished: Promise<void>;
  /** When each status was first reached (for tests and the benchmark). */
  readonly reachedAt: Record<string, number> = {};

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly launch: TaskLaunch,
  ) {
    this.id = launch.arn.slice(launch.arn.lastIndexOf("/") + 1);
    this.tags = launch.tags;
    this.pod = `lf-${ctx.instance}-${this.id.slice(0, 12)}`;
    const overrides = launch.overrides?.containerOverrides ?? [];
    this.containers = (launch.definition.containerDefinitions ?? []).map((base) => {
      const override = overrides.find((o) => o.name === base.name);
      const def: ContainerDefinition = {
        ...base,
        command: override?.command ?? base.command,
        cpu: override?.cpu ?? base.cpu,
        memory: override?.memory ?? base.memory,
        memoryReservation: override?.memoryReservation ?? base.memoryReservation,
        environment: mergeEnvironment(base.environment, override?.environment),
        environmentFiles: [...(base.environmentFiles ?? []), ...(override?.environmentFiles ?? [])],
      };
      const started = deferred<void>();
      const exited = deferred<number>();
      const healthy = deferred<boolean>();
      return {
        def,
        podmanName: `${this.pod}-${base.name}`,
        environment: {},
        isStarted: false,
        state: {
          containerArn: `${launch.arn.replace(":task/", ":container/")}/${randomUUID()}`,
          taskArn: launch.arn,
          name: base.name,
          image: base.image,
          lastStatus: "PENDING",
          cpu: String(def.cpu ?? 0),
          memory: def.memory !== undefined ? String(def.memory) : undefined,
          memoryReservation: def.memoryReservation !== undefined ? String(def.memoryReservation) : undefined,
          healthStatus: base.healthCheck ? "UNKNOWN" : undefined,
          networkInterfaces: [],
        },
        started: started.promise,
        markStarted: started.resolve,
        exited: exited.promise,
        markExited: exited.resolve,
        healthy: healthy.promise,
        markHealth: healthy.resolve,
        hasExited: false,
      } satisfies ContainerRun;
    });
    const now = new Date();
    this.task = {
      taskArn: launch.arn,
      clusterArn: launch.clusterArn,
      taskDefinitionArn: launch.definition.taskDefinitionArn,
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      launchType: launch.launchType,
      capacityProviderName: launch.capacityProvider,
      platformVersion: "1.4.0",
      platformFamily: "Linux",
      availabilityZone: `${ctx.clients.region}a`,
      cpu: String(launch.cpu),
      memory: String(launch.memory),
      ephemeralStorage: { sizeInGiB: launch.ephemeralGiB },
      createdAt: now,
      group: launch.group,
      startedBy: launch.startedBy,
      overrides: launch.overrides,
      enableExecuteCommand: launch.enableExecuteCommand,
      connectivity: "DISCONNECTED",
      healthStatus: "UNKNOWN",
      version: 1,
      attributes: [
        {
          name: "ecs.cpu-architecture",
          value:
            ociArchitecture(launch.definition.runtimePlatform?.cpuArchitecture) === "arm64"
              ? "arm64"
              : "x86_64",
        },
      ],
      attachments: [
        {
          id: randomUUID(),
          type: "ElasticNetworkInterface",
          status: "PRECREATED",
          details: [{ name: "subnetId", value: launch.subnetId }],
        },
      ],
      containers: this.containers.map((c) => c.state),
    };
    this.reachedAt.PROVISIONING = Date.now();
    this.finished = this.run();
  }

  /** The task as DescribeTasks returns it (tags only when asked for). */
  describe(includeTags: boolean): Task {
    const copy = structuredClone(this.task);
    if (includeTags) copy.tags = structuredClone(this.tags);
    return copy;
  }

  /** The task role (credentials are served for it), if the definition names one. */
  get definitionTaskRole(): string | undefined {
    return this.launch.definition.taskRoleArn;
  }

  get privateAddress(): string | undefined {
    return this.address;
  }

  get isStopped(): boolean {
    return this.task.lastStatus === "STOPPED";
  }

  /** StopTask: SIGTERM, then SIGKILL after each container's stopTimeout. */
  stop(reason: string): void {
    this.requestStop("UserInitiated", reason);
  }

  /**
   * A Fargate Spot interruption: the two-minute warning (a state change event with stopCode SpotInterruption),
   * SIGTERM to every container at once, then the stop when the warning runs out.
   */
  interruptSpot(): void {
    if (this.task.capacityProviderName !== "FARGATE_SPOT") {
      throw new Error(`task ${this.id} runs on ${this.task.capacityProviderName}, not FARGATE_SPOT`);
    }
    if (this.stopping) return;
    this.task.desiredStatus = "STOPPED";
    this.task.stopCode = "SpotInterruption";
    this.task.stoppedReason = SPOT_INTERRUPTED;
    this.task.stoppingAt = new Date();
    this.emit();
    const running = this.containers.filter((c) => c.isStarted && !c.hasExited);
    for (const c of running) this.killedByUs.add(c.podmanName);
    void Promise.all(running.map((c) => podman(["kill", "--signal", "TERM", c.podmanName])));
    const allExited = Promise.all(running.map((c) => c.exited));
    void Promise.race([allExited, sleep(this.ctx.delays.spotWarningMs)]).then(() =>
      this.requestStop("SpotInterruption", SPOT_INTERRUPTED),
    );
  }

  private requestStop(code: StopCode, reason: string): void {
    if (this.stopping) return;
    // Once interrupted, whatever ends the task (its containers leaving on SIGTERM) ends it as the interruption.
    if (this.task.stopCode === "SpotInterruption") {
      code = "SpotInterruption";
      reason = SPOT_INTERRUPTED;
    }
    this.stopping = { code, reason };
    // ECS records the decision at once (desiredStatus STOPPED); the containers stop after.
    this.task.desiredStatus = "STOPPED";
    this.task.stopCode ??= code;
    this.task.stoppedReason ??= reason;
    this.task.stoppingAt ??= new Date();
    this.emit();
    this.stopRequest.resolve(this.stopping);
  }

  /** Waits `ms`, or throws Stopped as soon as a stop is requested. */
  private async phase(ms: number): Promise<void> {
    const stopped = this.stopRequest.promise.then(() => {
      throw new Stopped();
    });
    await Promise.race([sleep(ms), stopped]);
    if (this.stopping) throw new Stopped();
  }

  /** Races a step with a stop request. */
  private async unlessStopped<T>(work: Promise<T>): Promise<T> {
    const stopped = this.stopRequest.promise.then(() => {
      throw new Stopped();
    });
    const out = await Promise.race([work, stopped]);
    if (this.stopping) throw new Stopped();
    return out;
  }

  private setStatus(status: string): void {
    this.task.lastStatus = status;
    this.reachedAt[status] ??= Date.now();
    this.emit();
  }

  private emit(): void {
    this.version++;
    this.task.version = this.version;
    this.ctx.events.emit(this.describe(false), this.version);
  }

  private async run(): Promise<void> {
    try {
      await this.phase(
        (this.launch.instanceStartMs ?? 0) + this.ctx.delays.provisioningMs + this.ctx.delays.eniAttachMs,
      );
      this.attachEni();
      this.setStatus("PENDING");
      if (this.ctx.stuckInPending) await this.unlessStopped(new Promise<never>(() => undefined));
      await this.prepare();
      await this.createPod();
      await this.phase(this.ctx.delays.containerStartMs);
      await this.startContainers();
      this.task.startedAt = new Date();
      this.setStatus("RUNNING");
      await this.stopRequest.promise;
    } catch (err) {
      if (err instanceof StartFailure) this.failToStart(err.message);
      else if (!(err instanceof Stopped)) this.failToStart(`unexpected error: ${(err as Error).message}`);
    }
    await this.teardown();
  }

  private failToStart(reason: string): void {
    this.requestStop("TaskFailedToStart", reason);
  }

  private attachEni(): void {
    this.address = this.ctx.pool.take();
    const attachment = this.task.attachments![0]!;
    attachment.status = "ATTACHED";
    attachment.details = [
      ...(attachment.details ?? []),
      { name: "networkInterfaceId", value: `eni-${this.id.slice(0, 17)}` },
      { name: "macAddress", value: macFor(this.address) },
      { name: "privateDnsName", value: `ip-${this.address.replaceAll(".", "-")}.ec2.internal` },
      { name: "privateIPv4Address", value: this.address },
    ];
    for (const c of this.containers) {
      c.state.networkInterfaces = [{ attachmentId: attachment.id, privateIpv4Address: this.address }];
    }
    this.task.connectivity = "CONNECTED";
    this.task.connectivityAt = new Date();
  }

  /** Secrets, log streams and image pulls: what the Fargate agent does while the task is PENDING. */
  private async prepare(): Promise<void> {
    this.task.pullStartedAt = new Date();
    const started = Date.now();
    for (const c of this.containers) {
      try {
        const secrets = await this.unlessStopped(resolveSecrets(this.ctx.clients, c.def.secrets ?? []));
        const files = await this.unlessStopped(
          readEnvironmentFiles(this.ctx.clients, c.def.environmentFiles ?? []),
        );
        // As on ECS: `environment` wins over environment files.
        c.environment = { ...this.baseEnvironment(c), ...files, ...envObject(c.def.environment), ...secrets };
        const target = awslogsTarget(c.def.logConfiguration, c.def.name ?? "", this.id);
        if (target) await this.unlessStopped(prepareStream(this.ctx.clients, target));
      } catch (err) {
        if (err instanceof SecretResolutionError || err instanceof LogGroupMissingError) {
          throw new StartFailure((err as Error).message);
        }
        throw err;
      }
    }
    const images = [...new Set(this.containers.map((c) => c.def.image ?? ""))];
    let bytes = 0;
    const wanted = ociArchitecture(this.launch.definition.runtimePlatform?.cpuArchitecture);
    const pulls = images.map(async (image) => {
      try {
        await pullImage(image);
      } catch (err) {
        if (!(err instanceof ImagePullError)) throw err;
        this.markPullFailure(image, err.message);
        throw new StartFailure(err.message);
      }
      const facts = await imageFacts(image);
      bytes = Math.max(bytes, facts.sizeBytes);
      if (facts.architecture !== wanted) {
        const message = `CannotPullContainerError: pull image manifest has been retried 5 time(s): image Manifest does not contain descriptor matching platform 'linux/${wanted}'`;
        this.markPullFailure(image, message);
        throw new StartFailure(message);
      }
    });
    await this.unlessStopped(Promise.all(pulls));
    // Layers are pulled in parallel: the largest image sets the modelled pull time.
    const modelled = pullDelayMs(this.ctx.delays, bytes);
    await this.phase(Math.max(0, modelled - (Date.now() - started)));
    this.task.pullStoppedAt = new Date();
  }

  private markPullFailure(image: string, reason: string): void {
    for (const c of this.containers) if (c.def.image === image) c.state.reason = reason;
  }

  /** What ECS puts in every Fargate container's environment, plus the emulator's own additions. */
  private baseEnvironment(c: ContainerRun): Record<string, string> {
    const metadata = `${this.ctx.endpoint()}/local-fargate/v4/${this.id}/${c.def.name}`;
    const env: Record<string, string> = {
      AWS_EXECUTION_ENV: "AWS_ECS_FARGATE",
      AWS_REGION: this.ctx.clients.region,
      AWS_DEFAULT_REGION: this.ctx.clients.region,
      ECS_CONTAINER_METADATA_URI: metadata,
      ECS_CONTAINER_METADATA_URI_V4: metadata,
      ECS_AGENT_URI: metadata,
      ...this.ctx.containerEnvironment,
    };
    if (this.launch.definition.taskRoleArn) {
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `${this.ctx.endpoint()}/local-fargate/credentials/${this.id}`;
    }
    for (const name of this.ctx.taskAddressEnv) env[name] = this.address ?? "";
    return env;
  }

  private async createPod(): Promise<void> {
    const pidTask = this.launch.definition.pidMode === "task";
    await this.createOrFail([
      "pod",
      "create",
      "--name",
      this.pod,
      "--label",
      `${INSTANCE_LABEL}=${this.ctx.instance}`,
      "--network",
      "host",
      "--share",
      pidTask ? "net,pid" : "net",
      // The task's size is a hard limit for all its containers together, as on Fargate.
      "--memory",
      `${this.launch.memory}m`,
      "--memory-swap",
      `${this.launch.memory}m`,
      "--cpus",
      String(this.launch.cpu / 1024),
    ]);
    for (const volume of this.launch.definition.volumes ?? []) {
      if (!volume.name) continue;
      const name = `${this.pod}-${volume.name}`;
      await this.createOrFail([
        "volume",
        "create",
        "--label",
        `${INSTANCE_LABEL}=${this.ctx.instance}`,
        name,
      ]);
      this.volumes.set(volume.name, name);
    }
    for (const c of this.containers) {
      const args = containerCreateArgs({
        pod: this.pod,
        name: c.podmanName,
        instance: this.ctx.instance,
        definition: c.def,
        environment: c.environment,
        volumes: this.volumes,
        logFile: this.logFile(c),
      });
      await this.createOrFail(managedInstancesCreateArgs(c.def, args), podmanEnvironment(c.environment));
    }
  }

  private async createOrFail(args: string[], env?: Record<string, string>): Promise<void> {
    const result = await podman(args, { env });
    if (result.code !== 0) {
      throw new StartFailure(`CannotCreateContainerError: ${result.stderr.trim().split("\n").pop()}`);
    }
  }

  /** Starts every container once its dependsOn conditions hold; resolves when all have started. */
  private async startContainers(): Promise<void> {
    const byName = new Map(this.containers.map((c) => [c.def.name, c]));
    const startOne = async (c: ContainerRun): Promise<void> => {
      for (const dep of c.def.dependsOn ?? []) {
        const other = byName.get(dep.containerName);
        if (!other) continue;
        const ok = await this.unlessStopped(this.conditionMet(other, dep.condition ?? "START"));
        if (!ok) {
          c.state.reason = `CannotStartContainerError: dependency '${dep.containerName}' did not reach condition ${dep.condition}`;
          throw new StartFailure(
            `CannotStartContainerError: container '${c.def.name}' depends on '${dep.containerName}' reaching ${dep.condition}, which it did not`,
          );
        }
      }
      await this.startContainer(c);
    };
    await this.unlessStopped(Promise.all(this.containers.map(startOne)));
  }

  private async conditionMet(c: ContainerRun, condition: string): Promise<boolean> {
    switch (condition) {
      case "START":
        await c.started;
        return true;
      case "COMPLETE":
        await c.exited;
        return true;
      case "SUCCESS":
        return (await c.exited) === 0;
      case "HEALTHY":
        return c.healthy;
      default:
        return false;
    }
  }

  private async startContainer(c: ContainerRun): Promise<void> {
    const result = await podman(["start", c.podmanName]);
    if (result.code !== 0) {
      const reason = `CannotStartContainerError: ${result.stderr.trim().split("\n").pop()}`;
      c.state.reason = reason;
      throw new StartFailure(reason);
    }
    c.state.lastStatus = "RUNNING";
    c.state.runtimeId = c.podmanName;
    c.isStarted = true;
    c.markStarted();
    const target = awslogsTarget(c.def.logConfiguration, c.def.name ?? "", this.id);
    const shipper = target ? new LogShipper(this.ctx.clients, target, this.logFile(c)) : undefined;
    this.watchExit(c, shipper);
    if (c.def.healthCheck) void this.healthLoop(c);
  }

  private logFile(c: ContainerRun): string {
    return `${this.ctx.logDir}/${c.podmanName}.log`;
  }

  private watchExit(c: ContainerRun, shipper: LogShipper | undefined): void {
    void this.ctx.exits.exited(c.podmanName).then((exitCode) => {
      c.hasExited = true;
      c.state.lastStatus = "STOPPED";
      c.state.exitCode = exitCode;
      // SIGKILL that we did not send: the kernel's OOM killer (the task's or the container's memory limit).
      if (exitCode === 137 && !this.killedByUs.has(c.podmanName)) c.state.reason = OOM_REASON;
      c.logsShipped = shipper?.finish();
      c.markExited(exitCode);
      if (c.def.essential !== false) this.requestStop("EssentialContainerExited", ESSENTIAL_EXITED);
      else this.emit();
    });
  }

  /** ECS health checks, run by the agent (here: podman exec) every interval. */
  private healthLoop(c: ContainerRun): Promise<void> {
    return runHealthChecks(c.podmanName, c.def.healthCheck!, {
      done: () => c.hasExited || this.stopping !== undefined,
      report: (status) => this.setHealth(c, status),
    });
  }

  private setHealth(c: ContainerRun, status: "HEALTHY" | "UNHEALTHY"): void {
    c.markHealth(status === "HEALTHY");
    if (c.state.healthStatus === status) return;
    c.state.healthStatus = status;
    const checked = this.containers.filter((x) => x.def.healthCheck && x.def.essential !== false);
    const statuses = checked.map((x) => x.state.healthStatus);
    // ECS: the task's health is its essential containers' (UNKNOWN when none of them has a check).
    this.task.healthStatus =
      statuses.length === 0
        ? "UNKNOWN"
        : statuses.includes("UNHEALTHY")
          ? "UNHEALTHY"
          : statuses.every((s) => s === "HEALTHY")
            ? "HEALTHY"
            : "UNKNOWN";
    this.emit();
  }

  /** Stops the containers (dependents first), ships the last logs, removes everything, frees the address. */
  private async teardown(): Promise<void> {
    const stop = this.stopping ?? { code: "TaskFailedToStart" as const, reason: "task stopped" };
    this.task.desiredStatus = "STOPPED";
    this.task.stopCode ??= stop.code;
    this.task.stoppedReason ??= stop.reason;
    this.task.stoppingAt ??= new Date();
    if (stop.code === "TaskFailedToStart") this.task.stoppedReason = stop.reason;
    this.setStatus("STOPPING");
    await this.stopContainersInOrder(stop.code === "SpotInterruption" ? 0 : undefined);
    // The last lines are read once the exit is seen; never wait for CloudWatch forever.
    await Promise.race([Promise.all(this.containers.map((c) => c.logsShipped)), sleep(10_000)]);
    for (const c of this.containers) c.state.lastStatus = "STOPPED";
    this.task.executionStoppedAt = new Date();
    this.setStatus("DEPROVISIONING");
    await sleep(this.ctx.delays.deprovisioningMs);
    await podman(["pod", "rm", "--force", "--time", "0", this.pod]);
    for (const volume of this.volumes.values()) await podman(["volume", "rm", "--force", volume]);
    await Promise.all(this.containers.map((c) => rm(this.logFile(c), { force: true })));
    if (this.address) this.ctx.pool.release(this.address);
    const attachment = this.task.attachments?.[0];
    if (attachment) attachment.status = "DELETED";
    this.task.connectivity = "DISCONNECTED";
    this.task.stoppedAt = new Date();
    this.setStatus("STOPPED");
  }

  /** SIGTERM, then SIGKILL if the container is still there after `timeoutS` (what `docker stop -t` does). */
  private async stopContainer(c: ContainerRun, timeoutS: number): Promise<void> {
    this.killedByUs.add(c.podmanName);
    await podman(["kill", "--signal", "TERM", c.podmanName]);
    const exited = await Promise.race([c.exited.then(() => true), sleep(timeoutS * 1000).then(() => false)]);
    if (exited) return;
    // A kill can race the container's own start; repeat until `podman wait` has seen it go.
    while (!c.hasExited) {
      await podman(["kill", "--signal", "KILL", c.podmanName]);
      await Promise.race([c.exited, sleep(1000)]);
    }
  }

  /** Reverse dependency order: a container is stopped only when no running container depends on it. */
  private async stopContainersInOrder(timeoutOverride?: number): Promise<void> {
    // Containers that never started exist in podman only as "created": nothing to stop there.
    let remaining = this.containers.filter((c) => c.isStarted && !c.hasExited);
    while (remaining.length > 0) {
      const needed = new Set(remaining.flatMap((c) => (c.def.dependsOn ?? []).map((d) => d.containerName)));
      const wave = remaining.filter((c) => !needed.has(c.def.name));
      const batch = wave.length > 0 ? wave : remaining;
      await Promise.all(
        batch.map(async (c) => {
          const timeout =
            timeoutOverride ?? Math.min(c.def.stopTimeout ?? DEFAULT_STOP_TIMEOUT_S, MAX_STOP_TIMEOUT_S);
          await this.stopContainer(c, timeout);
        }),
      );
      remaining = remaining.filter((c) => !batch.includes(c));
    }
  }
}

function mergeEnvironment(
  base: { name?: string; value?: string }[] | undefined,
  override: { name?: string; value?: string }[] | undefined,
): { name?: string; value?: string }[] {
  const merged = new Map((base ?? []).map((e) => [e.name, e.value]));
  for (const e of override ?? []) merged.set(e.name, e.value);
  return [...merged].map(([name, value]) => ({ name, value }));
}

function envObject(env: { name?: string; value?: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((env ?? []).filter((e) => e.name).map((e) => [e.name!, e.value ?? ""]));
}

function macFor(address: string): string {
  const n = Number(address.split(".")[3]);
  return `0e:00:00:00:00:${n.toString(16).padStart(2, "0")}`;
}
