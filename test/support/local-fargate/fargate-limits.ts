/**
 * What Fargate accepts and refuses, checked before a task definition is registered or a task is run: task-level
 * cpu/memory pairs, RunTask overrides, the capability set and privileged mode. Messages are the ones ECS gives.
 */
import type { ContainerDefinition, TaskDefinition, TaskOverride } from "@aws-sdk/client-ecs";
import { clientError, invalidParameter } from "./ecs-errors.js";

/** Valid memory (MiB) per task cpu (units): Fargate's published table. */
const MEMORY_BY_CPU: ReadonlyMap<number, readonly number[]> = new Map([
  [256, [512, 1024, 2048]],
  [512, range(1024, 4096, 1024)],
  [1024, range(2048, 8192, 1024)],
  [2048, range(4096, 16384, 1024)],
  [4096, range(8192, 30720, 1024)],
  [8192, range(16384, 61440, 4096)],
  [16384, range(32768, 122880, 8192)],
]);

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** Docker's default capability set, which Fargate containers start with. */
export const DOCKER_DEFAULT_CAPABILITIES = [
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "NET_RAW",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
] as const;

/** The one capability a Fargate task may add. */
export const FARGATE_ADDABLE_CAPABILITIES = ["SYS_PTRACE"] as const;

/** `"1024"`, `"1 vCPU"`, `"0.25 vcpu"` → CPU units. */
export function cpuUnits(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const vcpu = /^\s*([\d.]+)\s*vcpu\s*$/i.exec(value);
  return vcpu ? Math.round(Number(vcpu[1]) * 1024) : Number(value);
}

/** `"2048"`, `"2 GB"`, `"2gb"` → MiB. */
export function memoryMiB(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const gb = /^\s*([\d.]+)\s*gb\s*$/i.exec(value);
  return gb ? Math.round(Number(gb[1]) * 1024) : Number(value);
}

export function isFargateSize(cpu: number, memory: number): boolean {
  return MEMORY_BY_CPU.get(cpu)?.includes(memory) ?? false;
}

/** Task-level size of a Fargate task definition (RegisterTaskDefinition). */
export function checkTaskDefinitionSize(cpu: string | undefined, memory: string | undefined): void {
  if (cpu === undefined) throw clientError("Fargate requires that 'cpu' be defined at the task level.");
  if (memory === undefined) throw clientError("Fargate requires that 'memory' be defined at the task level.");
  const units = cpuUnits(cpu);
  const mib = memoryMiB(memory);
  if (units === undefined || mib === undefined || !isFargateSize(units, mib)) {
    throw clientError("No Fargate configuration exists for given values.");
  }
}

/** Per-container settings Fargate refuses (privileged, capabilities beyond SYS_PTRACE, host devices). */
export function checkContainerForFargate(container: ContainerDefinition): void {
  const name = container.name ?? "?";
  if (container.privileged) {
    throw clientError(`Fargate does not support privileged containers. Container '${name}' sets privileged.`);
  }
  const added = container.linuxParameters?.capabilities?.add ?? [];
  const refused = added.filter((cap) => !(FARGATE_ADDABLE_CAPABILITIES as readonly string[]).includes(cap));
  if (refused.length > 0) {
    throw clientError(
      `Fargate only supports adding the SYS_PTRACE kernel capability. Container '${name}' adds ${refused.join(", ")}.`,
    );
  }
  if ((container.linuxParameters?.devices ?? []).length > 0) {
    throw clientError(`Fargate does not support host devices. Container '${name}' sets devices.`);
  }
}

/** A registration that targets Fargate: its size and every container. */
export function checkFargateTaskDefinition(input: {
  cpu?: string;
  memory?: string;
  networkMode?: string;
  containerDefinitions?: ContainerDefinition[];
}): void {
  if (input.networkMode !== undefined && input.networkMode !== "awsvpc") {
    throw clientError("Fargate only supports network mode 'awsvpc'.");
  }
  checkTaskDefinitionSize(input.cpu, input.memory);
  for (const container of input.containerDefinitions ?? []) checkContainerForFargate(container);
}

/** Overrides ECS refuses, and the effective task size after them. */
export function checkOverrides(
  definition: TaskDefinition,
  overrides: TaskOverride | undefined,
): { cpu: number; memory: number; ephemeralGiB: number } {
  const json = JSON.stringify(overrides ?? {});
  if (json.length > 8192) throw invalidParameter("Container Overrides length must be at most 8192");
  const names = new Set((definition.containerDefinitions ?? []).map((c) => c.name));
  for (const override of overrides?.containerOverrides ?? []) {
    if (!names.has(override.name)) {
      throw invalidParameter(
        `Override for container named ${override.name} is not a container in the TaskDefinition.`,
      );
    }
  }
  const cpu = cpuUnits(overrides?.cpu ?? definition.cpu);
  const memory = memoryMiB(overrides?.memory ?? definition.memory);
  if (cpu === undefined || memory === undefined || !isFargateSize(cpu, memory)) {
    throw clientError("No Fargate configuration exists for given values.");
  }
  const ephemeral = overrides?.ephemeralStorage?.sizeInGiB ?? definition.ephemeralStorage?.sizeInGiB ?? 20;
  if (overrides?.ephemeralStorage && (ephemeral < 21 || ephemeral > 200)) {
    throw invalidParameter("The ephemeral storage size must be between 21 GiB and 200 GiB.");
  }
  return { cpu, memory, ephemeralGiB: ephemeral };
}
