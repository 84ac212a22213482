/**
 * The local Fargate: an ECS task runtime for tests. A proxy in front of moto that runs every RunTask as real
 * podman containers, as ECS Fargate would (see docs/local-fargate.md for what it models and what it does not).
 *
 *   const fargate = await startLocalFargate({ motoEndpoint: process.env.AWS_ENDPOINT_URL! });
 *   // point SDK clients (or a whole process, via AWS_ENDPOINT_URL) at fargate.endpoint
 *   ...
 *   await fargate.stop(); // no container, pod, volume or helper process left
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Task } from "@aws-sdk/client-ecs";
import { EcsTaskApi } from "./ecs-api.js";
import { TaskEvents } from "./events.js";
import { ExitWatcher } from "./exit-watcher.js";
import { Faults } from "./faults.js";
import { LoopbackAddressPool, processAddressPool } from "./ip-pool.js";
import { motoClients } from "./moto-clients.js";
import { leftovers, livePodmanChildren, removeAll } from "./podman.js";
import { type PhaseDelays, type ProfileName, phaseDelays } from "./profiles.js";
import { LocalFargateProxy } from "./proxy.js";
import type { TaskRuntime } from "./task-runtime.js";

export { TASK_STATE_CHANGE } from "./events.js";
export { type PhaseDelays, PROFILES, type ProfileName } from "./profiles.js";

export interface LocalFargateOptions {
  /** moto's endpoint (every call the local Fargate does not serve itself goes there). */
  motoEndpoint: string;
  /** Default: AWS_REGION or us-east-1. */
  region?: string;
  /** moto's account (default 123456789012). */
  account?: string;
  /** Phase delays: `fast` (default) or `realistic`, or explicit values. */
  profile?: ProfileName | PhaseDelays;
  /** Replaces single phases of the profile. */
  delays?: Partial<PhaseDelays>;
  /** Buses the task state change events go to (default: the default bus, where ECS puts them). */
  eventBuses?: readonly string[];
  /**
   * Environment for every container on top of what Fargate sets. Default: AWS_ENDPOINT_URL = this proxy, so
   * programs in tasks reach the same emulated AWS.
   */
  containerEnvironment?: Record<string, string>;
  /**
   * Variables set to the task's private address (127.0.0.N) in every container. Tasks share the host network
   * here, so a server that would bind 0.0.0.0 on Fargate must bind its task's address instead.
   */
  taskAddressEnv?: readonly string[];
  /** Addresses 127.0.0.<first>…<last> (default: 2…254, one pool shared by every instance in the process, starting
   * at a random address). */
  addressPool?: { first: number; last: number };
}

export interface TaskRecord {
  /** The task as DescribeTasks shows it (with tags). */
  task: Task;
  /** Epoch ms at which each lastStatus was first reached. */
  reachedAt: Readonly<Record<string, number>>;
}

export interface LocalFargate {
  /** The proxy: use as the ECS endpoint (AWS_ENDPOINT_URL_ECS) or as the endpoint for every service. */
  endpoint: string;
  /** This instance's id (the `local-fargate.instance` label on its pods, containers and volumes). */
  instance: string;
  faults: Faults & {
    /** Interrupts a FARGATE_SPOT task: warning event, SIGTERM, STOPPED with SpotInterruption after the warning. */
    interruptSpot(taskArn: string): void;
  };
  /** Every task this instance ran, in start order. */
  tasks(): TaskRecord[];
  /** Resolves when the task reaches `status` (or STOPPED, whichever first); the record at that moment. */
  waitFor(taskArn: string, status: string, timeoutMs?: number): Promise<TaskRecord>;
  /** Events put on EventBridge so far. */
  events(): readonly { time: Date; detail: Record<string, unknown> }[];
  /** Stops every task (as StopTask would), waits until all are STOPPED, removes what is left, closes the proxy. */
  stop(): Promise<void>;
}

export async function startLocalFargate(options: LocalFargateOptions): Promise<LocalFargate> {
  const instance = randomBytes(3).toString("hex");
  const region = options.region ?? process.env.AWS_REGION ?? "us-east-1";
  const account = options.account ?? "123456789012";
  const clients = motoClients(options.motoEndpoint, region);
  const delays = phaseDelays(options.profile ?? "fast", options.delays);
  const events = new TaskEvents(clients, options.eventBuses ?? ["default"]);
  const pool = options.addressPool
    ? new LoopbackAddressPool(options.addressPool.first, options.addressPool.last)
    : processAddressPool;
  const faults = new Faults();
  const exits = new ExitWatcher(instance);
  const logDir = await mkdtemp(join(tmpdir(), `local-fargate-${instance}-`));
  let endpoint = "";
  const api = new EcsTaskApi(clients, account, faults, () => ({
    instance,
    clients,
    delays,
    events,
    pool,
    endpoint: () => endpoint,
    containerEnvironment: { AWS_ENDPOINT_URL: endpoint, ...options.containerEnvironment },
    taskAddressEnv: options.taskAddressEnv ?? [],
    exits,
    logDir,
  }));
  const proxy = new LocalFargateProxy({
    motoEndpoint: options.motoEndpoint,
    api,
    roleCredentials: { accessKeyId: "testing", secretAccessKey: "testing", sessionToken: "testing" },
  });
  endpoint = await proxy.listen();

  const record = (runtime: TaskRuntime): TaskRecord => ({
    task: runtime.describe(true),
    reachedAt: { ...runtime.reachedAt },
  });
  const runtimeOf = (arn: string): TaskRuntime => {
    const runtime = api.tasks.get(arn);
    if (!runtime) throw new Error(`no task ${arn} in this local Fargate`);
    return runtime;
  };

  return {
    endpoint,
    instance,
    faults: Object.assign(faults, { interruptSpot: (arn: string) => runtimeOf(arn).interruptSpot() }),
    tasks: () => [...api.tasks.values()].map(record),
    async waitFor(arn, status, timeoutMs = 60_000) {
      const runtime = runtimeOf(arn);
      const deadline = Date.now() + timeoutMs;
      while (runtime.reachedAt[status] === undefined && !runtime.isStopped) {
        if (Date.now() > deadline) {
          throw new Error(
            `task ${runtime.id} did not reach ${status} within ${timeoutMs} ms (it is ${runtime.task.lastStatus})`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      return record(runtime);
    },
    events: () => events.sent,
    async stop() {
      for (const runtime of api.tasks.values()) if (!runtime.isStopped) runtime.stop("local Fargate stopped");
      await Promise.all([...api.tasks.values()].map((r) => r.finished));
      await events.flushed();
      await removeAll(instance);
      exits.close();
      await rm(logDir, { recursive: true, force: true });
      await proxy.close();
      clients.destroy();
    },
  };
}

export interface Leftovers {
  containers: string[];
  pods: string[];
  volumes: string[];
  /** podman processes this module started (the instance's event stream) that are still alive. */
  processes: number;
}

/** What a local Fargate left behind (an instance's id, or every instance's when none is given). */
export async function localFargateLeftovers(instance?: string): Promise<Leftovers> {
  return { ...(await leftovers(instance)), processes: livePodmanChildren() };
}

/** Throws, naming them, if any container, pod, volume or helper process of a local Fargate is left. */
export async function assertNothingLeftRunning(instance?: string): Promise<void> {
  const left = await localFargateLeftovers(instance);
  const named = [...left.containers, ...left.pods, ...left.volumes];
  if (named.length > 0 || left.processes > 0) {
    throw new Error(
      `local Fargate left behind: ${named.join(", ") || "no podman objects"}; ${left.processes} helper process(es)`,
    );
  }
}
