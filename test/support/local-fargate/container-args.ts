/**
 * `podman create` arguments for one container definition, as Fargate would run it: Docker's default capability set
 * (adjusted by linuxParameters), the container's own memory and cpu shares, user, working directory, read-only root,
 * entry point, task volumes, and environment names whose values travel in podman's environment.
 */
import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { DOCKER_DEFAULT_CAPABILITIES } from "./fargate-limits.js";
import { INSTANCE_LABEL } from "./podman.js";

export interface ContainerCreate {
  pod: string;
  /** The podman container name. */
  name: string;
  /** The local Fargate instance (label). */
  instance: string;
  definition: ContainerDefinition;
  /** The container's environment: names go on podman's command line, values (secrets among them) in its environment. */
  environment: Readonly<Record<string, string>>;
  /** Task volume name → podman volume name. */
  volumes: ReadonlyMap<string, string>;
  /** Where podman writes the container's output (k8s-file), read back for awslogs. */
  logFile: string;
}

/** The capability set: Docker's defaults, minus drop (ALL clears them), plus add. */
export function capabilitiesOf(definition: ContainerDefinition): string[] {
  const caps = new Set<string>(DOCKER_DEFAULT_CAPABILITIES);
  const drop = definition.linuxParameters?.capabilities?.drop ?? [];
  if (drop.includes("ALL")) caps.clear();
  for (const cap of drop) caps.delete(cap);
  for (const cap of definition.linuxParameters?.capabilities?.add ?? []) caps.add(cap);
  return [...caps];
}

/** Variables podman itself reads: the container's values for them go inline, not into podman's environment. */
export function podmanOwnsVariable(name: string): boolean {
  return /^(PATH|HOME|TMPDIR|TZ|SHELL|USER|LANG|LC_.*|LD_.*|XDG_.*|CONTAINERS_.*|REGISTRY_AUTH_FILE|DOCKER_.*|BUILDAH_.*|STORAGE_.*|NOTIFY_SOCKET)$/.test(
    name,
  );
}

/** The environment podman runs with for a create: the container's values, except those podman reads itself. */
export function podmanEnvironment(environment: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).filter(([name]) => !podmanOwnsVariable(name)));
}

export function containerCreateArgs(spec: ContainerCreate): string[] {
  const def = spec.definition;
  const args = ["create", "--pod", spec.pod, "--name", spec.name, "--pull", "never"];
  args.push("--label", `${INSTANCE_LABEL}=${spec.instance}`, "--cap-drop", "ALL");
  args.push("--log-driver", "k8s-file", "--log-opt", `path=${spec.logFile}`);
  for (const cap of capabilitiesOf(def)) args.push("--cap-add", cap);
  if (def.memory) args.push("--memory", `${def.memory}m`, "--memory-swap", `${def.memory}m`);
  if (def.memoryReservation) args.push("--memory-reservation", `${def.memoryReservation}m`);
  if (def.cpu) args.push("--cpu-shares", String(Math.max(2, def.cpu)));
  if (def.user) args.push("--user", def.user);
  if (def.workingDirectory) args.push("--workdir", def.workingDirectory);
  // Docker's --read-only adds no tmpfs; podman's does unless told not to.
  if (def.readonlyRootFilesystem) args.push("--read-only", "--read-only-tmpfs=false");
  if (def.linuxParameters?.initProcessEnabled) args.push("--init");
  for (const limit of def.ulimits ?? []) {
    args.push("--ulimit", `${limit.name}=${limit.softLimit}:${limit.hardLimit}`);
  }
  if (def.entryPoint) args.push("--entrypoint", JSON.stringify(def.entryPoint));
  for (const [name, value] of Object.entries(spec.environment)) {
    args.push("--env", podmanOwnsVariable(name) ? `${name}=${value}` : name);
  }
  for (const mount of def.mountPoints ?? []) {
    const volume = spec.volumes.get(mount.sourceVolume ?? "");
    if (volume) args.push("--volume", `${volume}:${mount.containerPath}${mount.readOnly ? ":ro" : ""}`);
  }
  args.push(def.image ?? "", ...(def.command ?? []));
  return args;
}
