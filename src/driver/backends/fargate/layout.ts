/**
 * What a job task looks like in ECS: the RegisterTaskDefinition request built from a job's shape, and the
 * family name derived from it. Pure (no AWS calls), so every detail of the layout is unit-testable.
 *
 * Layout, like the Kubernetes executor's pod:
 * - `helper`: our image (agent + git + git-lfs + gitlab-runner), essential; the agent listens on
 *   AGENT_CHANNEL_PORT and runs the predefined stages;
 * - `build`: the user's image, essential, running only the build loop (src/driver/backends/build-loop.ts: `sh -c`, shell
 *   builtins, no binary of ours) that executes the scripts the agent hands it through the shared control volume;
 * - `svc-<n>`: services, not essential (a crashed service fails the job through its scripts, not the task);
 * - volumes `builds` (the checkout, shared by helper and build) and `sgr` (agent ↔ build loop control files).
 * CPU, memory and ephemeral storage are RunTask overrides, so they are NOT part of the definition: the definition
 * carries Fargate's minimum size and one revision serves every size.
 */
import { createHash } from "node:crypto";
import type {
  ContainerDefinition,
  KeyValuePair,
  LogConfiguration,
  RegisterTaskDefinitionCommandInput,
  Tag,
} from "@aws-sdk/client-ecs";
import { AGENT_CHANNEL_PORT } from "../../../config/ports.js";
import { registryHostOf } from "../../../config/registry-hosts.js";
import { HELPER_CONTAINER } from "../../../fargate/job-task-names.js";
import type { ContainerSpec, JobTaskShape } from "../../backend.js";
import { buildContainerCommand, SHARED_DIR } from "../build-loop.js";
import { managedInstancesLayout } from "./managed-instances-layout.js";

/** Every job task-definition family starts with this. */
export const JOB_FAMILY_PREFIX = "sgr-job-";
/** A deployment's family scope: fixed length, so no deployment's prefix is a prefix of another's. */
export const JOB_FAMILY_SCOPE_PATTERN = /^[0-9a-f]{8}$/;

/**
 * The family prefix of one deployment's job task definitions, `sgr-job-<scope>-`: its IAM grants, its driver and
 * its janitor all use it, so two deployments in one account never run, tag or retire each other's definitions.
 * Without a scope (tests, a driver run by hand) it is the bare `sgr-job-`.
 */
export function jobFamilyPrefix(scope?: string): string {
  if (scope === undefined) return JOB_FAMILY_PREFIX;
  if (!JOB_FAMILY_SCOPE_PATTERN.test(scope))
    throw new Error(`job family scope '${scope}' is not 8 hex digits`);
  return `${JOB_FAMILY_PREFIX}${scope}-`;
}
export { HELPER_CONTAINER };
export const BUILD_CONTAINER = "build";
/** Bumped when the layout below changes in a way the hashed request would not show (none so far). */
export const LAYOUT_VERSION = "1";

export const BUILDS_VOLUME = { name: "builds", containerPath: "/builds" } as const;
/** The agent ↔ build-loop control volume (FIFO, step scripts, output): see src/driver/backends/build-loop.ts. */
export const CONTROL_VOLUME = { name: "sgr", containerPath: SHARED_DIR } as const;

export const TAG_MANAGED = "sgr:managed";
export const TAG_SHAPE_HASH = "sgr:shape-hash";
export const TAG_LAST_USED = "sgr:last-used";

/** Deployment-wide inputs of a job task definition (from `Resources`), the same for every job. */
export interface JobTaskDefinitionSettings {
  /** Region of the log group (awslogs driver option). */
  region: string;
  logGroupName: string;
  /** Stream names become `<prefix>/<container>/<task id>`. */
  logStreamPrefix?: string;
  /** Role ECS pulls images and writes logs with; awslogs on Fargate needs it. */
  executionRoleArn: string;
  /** Role the job's containers get credentials for (none when unset). */
  taskRoleArn?: string;
  /** Build-container command (default: buildContainerCommand() of src/driver/backends/build-loop.ts); part of the hash. */
  buildCommand?: readonly string[];
  /** The deployment's family scope (`resources.jobFamilyScope`): families are `sgr-job-<scope>-<hash>`. */
  familyScope?: string;
}

/** A registration request ready to send, with the family and hash it was named by. */
export interface JobTaskDefinitionRequest {
  family: string;
  shapeHash: string;
  /** The request without tags (tags carry a date, so they stay out of the hash). */
  input: RegisterTaskDefinitionCommandInput;
}

/** Soft memory floor per container: moto requires one, and their sum (≤ 10 × 32 MiB) fits Fargate's 512 MiB minimum. */
const CONTAINER_MEMORY_RESERVATION_MIB = 32;
/** ECS `family` allows letters, digits, `_` and `-`. */
const HASH_LENGTH = 16;

const ECR_PRIVATE = /^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//;
const ECR_PUBLIC = /^public\.ecr\.aws\//;

/** ECR is pulled through the job execution role: no registry credentials, whatever the configuration maps. */
function isEcr(image: string): boolean {
  return ECR_PRIVATE.test(image) || ECR_PUBLIC.test(image);
}

/**
 * The registry credentials (a secret ARN) an image is pulled with: those mapped to the image's own registry host,
 * never another registry's, and none for ECR.
 */
export function needsRepositoryCredentials(
  image: string,
  registryCredentials: Readonly<Record<string, string>> | undefined,
): string | undefined {
  if (!registryCredentials || isEcr(image)) return undefined;
  return registryCredentials[registryHostOf(image)];
}

function environment(vars: Record<string, string> | undefined): KeyValuePair[] | undefined {
  if (!vars || Object.keys(vars).length === 0) return undefined;
  return Object.keys(vars)
    .sort()
    .map((name) => ({ name, value: vars[name] }));
}

function awslogs(settings: JobTaskDefinitionSettings): LogConfiguration {
  return {
    logDriver: "awslogs",
    options: {
      "awslogs-group": settings.logGroupName,
      "awslogs-region": settings.region,
      "awslogs-stream-prefix": settings.logStreamPrefix ?? "job",
      // A CloudWatch hiccup must not block the job's output: buffer instead of blocking writes.
      mode: "non-blocking",
      "max-buffer-size": "4m",
    },
  };
}

function credentialsFor(image: string, shape: JobTaskShape): ContainerDefinition["repositoryCredentials"] {
  const secretArn = needsRepositoryCredentials(image, shape.registryCredentials);
  return secretArn ? { credentialsParameter: secretArn } : undefined;
}

/** `image:entrypoint: [""]` (GitLab's way to clear an image's entrypoint) means: no entrypoint at all. */
function isClearedEntrypoint(entrypoint: string[] | undefined): boolean {
  return entrypoint?.every((part) => part === "") ?? false;
}

function helperContainer(shape: JobTaskShape, settings: JobTaskDefinitionSettings): ContainerDefinition {
  return {
    name: HELPER_CONTAINER,
    image: shape.helperImage,
    essential: true,
    memoryReservation: CONTAINER_MEMORY_RESERVATION_MIB,
    portMappings: [{ containerPort: AGENT_CHANNEL_PORT, protocol: "tcp" }],
    mountPoints: [
      { sourceVolume: BUILDS_VOLUME.name, containerPath: BUILDS_VOLUME.containerPath, readOnly: false },
      { sourceVolume: CONTROL_VOLUME.name, containerPath: CONTROL_VOLUME.containerPath, readOnly: false },
    ],
    environment: [
      { name: "SGR_AGENT_PORT", value: String(AGENT_CHANNEL_PORT) },
      { name: "SGR_SHARED", value: CONTROL_VOLUME.containerPath },
      // A job image whose user is not root must write its checkout (the Docker executor's builds volume is too).
      { name: "SGR_WRITABLE_DIRS", value: BUILDS_VOLUME.containerPath },
    ],
    logConfiguration: awslogs(settings),
  };
}

function buildContainer(shape: JobTaskShape, settings: JobTaskDefinitionSettings): ContainerDefinition {
  const spec = shape.build;
  // The build loop: `sh -c <script>` using only shell builtins, so any image with a POSIX shell works.
  const command = [...(settings.buildCommand ?? buildContainerCommand())];
  const aliases = shape.services.flatMap((service) => service.aliases ?? []).join(" ");
  const loopEnvironment: Record<string, string> = { SGR_SHARED: CONTROL_VOLUME.containerPath };
  // The loop adds these to /etc/hosts as 127.0.0.1 where the image lets it (one network namespace per task).
  if (aliases) loopEnvironment.SGR_SERVICE_ALIASES = aliases;
  const cleared = isClearedEntrypoint(spec.entrypoint);
  return {
    name: BUILD_CONTAINER,
    image: spec.image,
    essential: true,
    memoryReservation: CONTAINER_MEMORY_RESERVATION_MIB,
    // Like the Docker executor: the image's own entrypoint runs with our shell command as its arguments,
    // unless the job overrides it; a cleared entrypoint runs the shell command directly.
    entryPoint: cleared ? command : spec.entrypoint,
    command: cleared ? undefined : command,
    user: spec.user,
    environment: environment({ ...spec.environment, ...loopEnvironment }),
    mountPoints: [
      { sourceVolume: BUILDS_VOLUME.name, containerPath: BUILDS_VOLUME.containerPath, readOnly: false },
      { sourceVolume: CONTROL_VOLUME.name, containerPath: CONTROL_VOLUME.containerPath, readOnly: false },
    ],
    // START, not HEALTHY: the loop itself waits for the agent's control FIFO, and a health check would add at
    // least its 5 s interval to every job's start.
    dependsOn: [{ containerName: HELPER_CONTAINER, condition: "START" }],
    repositoryCredentials: credentialsFor(spec.image, shape),
    logConfiguration: awslogs(settings),
  };
}

function serviceContainer(
  spec: ContainerSpec,
  shape: JobTaskShape,
  settings: JobTaskDefinitionSettings,
): ContainerDefinition {
  const cleared = isClearedEntrypoint(spec.entrypoint);
  return {
    name: spec.name,
    image: spec.image,
    essential: false,
    memoryReservation: CONTAINER_MEMORY_RESERVATION_MIB,
    // ECS cannot say "no entrypoint"; a cleared one with a command runs the command as the entrypoint instead.
    entryPoint: cleared ? spec.command : spec.entrypoint,
    command: cleared ? undefined : spec.command,
    user: spec.user,
    // No environment: service variables are RunTask overrides (see backend.ts), so no value persists in a
    // definition and a new value never makes a new family.
    repositoryCredentials: credentialsFor(spec.image, shape),
    logConfiguration: awslogs(settings),
  };
}

/** JSON with object keys sorted and undefined dropped: equal requests give equal text, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function validateShape(shape: JobTaskShape): void {
  const names = [HELPER_CONTAINER, shape.build.name, ...shape.services.map((s) => s.name)];
  if (shape.build.name !== BUILD_CONTAINER)
    throw new Error(`the build container must be named '${BUILD_CONTAINER}'`);
  if (new Set(names).size !== names.length)
    throw new Error(`container names must be unique: ${names.join(", ")}`);
  // ECS allows at most 10 containers per task definition.
  if (names.length > 10) {
    throw new Error(
      `a job task holds at most 10 containers (helper, build and 8 services); this job asks for ${names.length}`,
    );
  }
  for (const spec of [shape.build, ...shape.services]) {
    if (spec.image.trim() === "") throw new Error(`container '${spec.name}' has no image`);
    // ECS limits an image reference to 255 characters (before any @digest).
    if ((spec.image.split("@")[0] ?? "").length > 255)
      throw new Error(`image of '${spec.name}' is longer than 255 characters`);
  }
  if (shape.helperImage.trim() === "") throw new Error("no helper image configured (resources.helperImage)");
}

/**
 * The RegisterTaskDefinition request for a job shape. Its family is `sgr-job-<scope>-<16 hex of sha256>` over the
 * canonical request, so identical layouts share one family in every manager, and any change (image, entrypoint,
 * architecture, services, helper image, log settings, roles) gives a new family instead of a new revision.
 */
export function jobTaskDefinitionRequest(
  shape: JobTaskShape,
  settings: JobTaskDefinitionSettings,
): JobTaskDefinitionRequest {
  validateShape(shape);
  const fargateBody: Omit<RegisterTaskDefinitionCommandInput, "family"> = {
    networkMode: "awsvpc",
    requiresCompatibilities: ["FARGATE"],
    // Fargate's smallest size; every RunTask overrides it with the job's size.
    cpu: "256",
    memory: "512",
    runtimePlatform: {
      cpuArchitecture: shape.architecture === "arm64" ? "ARM64" : "X86_64",
      operatingSystemFamily: "LINUX",
    },
    // One PID namespace for the task: the agent can signal the build shell's process tree (job cancellation).
    // No container then runs as PID 1, so none gets initProcessEnabled (its init would only warn it cannot reap).
    pidMode: "task",
    executionRoleArn: settings.executionRoleArn,
    taskRoleArn: settings.taskRoleArn,
    volumes: [{ name: BUILDS_VOLUME.name }, { name: CONTROL_VOLUME.name }],
    containerDefinitions: [
      helperContainer(shape, settings),
      buildContainer(shape, settings),
      ...shape.services.map((spec) => serviceContainer(spec, shape, settings)),
    ],
  };
  const body = managedInstancesLayout(fargateBody, shape, BUILD_CONTAINER);
  const canonical = canonicalJson({ layout: LAYOUT_VERSION, body });
  const shapeHash = createHash("sha256").update(canonical).digest("hex").slice(0, HASH_LENGTH);
  const family = `${jobFamilyPrefix(settings.familyScope)}${shapeHash}`;
  // Round-trip through the canonical form so the request holds no undefined fields.
  return { family, shapeHash, input: { family, ...(JSON.parse(canonical).body as typeof body) } };
}

/** UTC calendar day, the granularity of the `sgr:last-used` tag. */
export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function ownershipTags(shapeHash: string, now: Date): Tag[] {
  return [
    { key: TAG_MANAGED, value: "true" },
    { key: TAG_SHAPE_HASH, value: shapeHash },
    { key: TAG_LAST_USED, value: dayOf(now) },
  ];
}
