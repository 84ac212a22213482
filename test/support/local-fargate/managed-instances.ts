/**
 * ECS Managed Instances, as the local Fargate models them: named capacity providers whose tasks may run
 * privileged (Fargate refuses that, see fargate-limits.ts), on instances that take a while to launch when none is
 * idle and go away after an idle period. Tasks still run as podman pods on this machine; only what differs from
 * Fargate is modelled here: which task definitions and containers are accepted, and the instance start delay.
 */
import type { ContainerDefinition, TaskDefinition } from "@aws-sdk/client-ecs";
import { clientError, invalidParameter } from "./ecs-errors.js";

export interface ManagedInstancesOptions {
  /** Names of the emulated Managed Instances capacity providers (what RunTask's strategy names). */
  capacityProviders: readonly string[];
  /** How long an instance takes to launch and register when no idle one is there (default 0). */
  instanceStartMs?: number;
  /** How long an instance stays after its last task before it is removed (default 5 minutes, ECS's default). */
  idleMs?: number;
}

/**
 * `podman create` arguments of a container as Managed Instances run it: a privileged one (only they accept it, see
 * fargate-limits.ts) gets `--privileged` (every capability, no seccomp filter, as Docker's) instead of Fargate's
 * capability set and seccomp profile; any other is left as Fargate would run it.
 */
export function managedInstancesCreateArgs(definition: ContainerDefinition, args: string[]): string[] {
  if (!definition.privileged) return args;
  // Options come before the image; the image and its command (last) are never options.
  const imageAt = args.length - 1 - (definition.command?.length ?? 0);
  const out = args.slice(0, 1).concat("--privileged");
  for (let i = 1; i < imageAt; i++) {
    const [flag, value] = [args[i], args[i + 1] ?? ""];
    const fargateOnly =
      flag === "--cap-drop" ||
      flag === "--cap-add" ||
      (flag === "--security-opt" && value.startsWith("seccomp="));
    if (fargateOnly) i++;
    else out.push(args[i]!);
  }
  return out.concat(args.slice(imageAt));
}

/** The network modes Managed Instances tasks may use. */
const NETWORK_MODES = ["awsvpc", "host"];

export class ManagedInstances {
  /** Per capacity provider: tasks on its instance, and until when the idle instance is kept. */
  private readonly instances = new Map<string, { tasks: number; idleUntil: number }>();

  constructor(private readonly options: ManagedInstancesOptions) {}

  isProvider(name: string | undefined): boolean {
    return name !== undefined && this.options.capacityProviders.includes(name);
  }

  /** RegisterTaskDefinition for MANAGED_INSTANCES: privileged and GPUs allowed, Fargate's size table not applied. */
  checkRegistration(body: { networkMode?: string; containerDefinitions?: ContainerDefinition[] }): void {
    if (body.networkMode !== undefined && !NETWORK_MODES.includes(body.networkMode)) {
      throw clientError(
        `Managed Instances only support network modes ${NETWORK_MODES.join(" and ")}; '${body.networkMode}' given.`,
      );
    }
  }

  /** RunTask on a Managed Instances provider: the task definition must say it runs there. */
  checkRun(definition: TaskDefinition): void {
    if (!(definition.requiresCompatibilities ?? []).includes("MANAGED_INSTANCES")) {
      throw invalidParameter("Task definition does not support launch_type MANAGED_INSTANCES.");
    }
  }

  /** A task is placed on `provider`: the instance start it waits for (0 when an instance is up or idle). */
  place(provider: string): number {
    const now = Date.now();
    const instance = this.instances.get(provider);
    const warm = instance !== undefined && (instance.tasks > 0 || instance.idleUntil > now);
    this.instances.set(provider, { tasks: (instance?.tasks ?? 0) + 1, idleUntil: Number.POSITIVE_INFINITY });
    return warm ? 0 : (this.options.instanceStartMs ?? 0);
  }

  /** A task on `provider` stopped: the instance stays idle for a while once it runs no task. */
  release(provider: string): void {
    const instance = this.instances.get(provider);
    if (!instance) return;
    instance.tasks = Math.max(0, instance.tasks - 1);
    if (instance.tasks === 0) instance.idleUntil = Date.now() + (this.options.idleMs ?? 5 * 60_000);
  }
}
