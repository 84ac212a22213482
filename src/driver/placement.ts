/**
 * Whether a job runs on ECS Managed Instances, privileged and with GPUs, from its CI variables and services,
 * honoured only as far as the runner configuration allows. Like GitLab's Docker and Kubernetes executors, privileged
 * containers are off unless the runner allows them; unlike a size above the cap (clamped with a warning), a job that
 * needs privileges or a GPU it cannot get is refused with the reason, since running it anyway could only fail later
 * and less clearly. Outcomes are documented in docs/job-variables.md.
 */
/** The part of a runner configuration's job settings this module reads. */
export interface PlacementCaps {
  managedInstances: { enabled: boolean; maxGpus: number };
  allowPrivileged: boolean;
}

/** Raw CI variable values (undefined = not set) and the job's service images. */
export interface PlacementRequest {
  capacity?: string;
  privileged?: string;
  gpu?: string;
  serviceImages?: readonly string[];
}

export interface Placement {
  /** The job runs on the Managed Instances capacity provider. */
  managedInstances: boolean;
  /** The build container and the services run privileged. */
  privileged: boolean;
  /** GPUs reserved for the build container. */
  gpus: number;
  warnings: string[];
}

/** The job asks for something this runner will not give it; the message goes to the job log. */
export class PlacementRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlacementRefusedError";
  }
}

const MANAGED_INSTANCES_NAMES = ["managed-instances", "managed_instances", "managedinstances", "mi"];

/** Whether an SGR_CAPACITY value names Managed Instances (sizing.ts reads the Fargate ones). */
export function isManagedInstancesCapacity(value: string | undefined): boolean {
  return value !== undefined && MANAGED_INSTANCES_NAMES.includes(value.trim().toLowerCase());
}

function parseFlag(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off", ""].includes(v)) return false;
  return undefined;
}

/**
 * A Docker-in-Docker service: `docker:dind`, `docker:27-dind`, `…/docker:dind-rootless`, `…/library/docker:dind`.
 * It cannot start unprivileged, so it counts as a privileged request.
 */
export function isDindService(image: string): boolean {
  const withoutDigest = image.split("@")[0] ?? "";
  const slash = withoutDigest.lastIndexOf("/");
  const [name = "", tag = ""] = withoutDigest.slice(slash + 1).split(":");
  return name === "docker" && /(^|-)dind($|-)/.test(tag);
}

function privilegedRequest(request: PlacementRequest, warnings: string[]): string | undefined {
  const dind = request.serviceImages?.find(isDindService);
  if (request.privileged !== undefined) {
    const flag = parseFlag(request.privileged);
    if (flag === undefined) {
      warnings.push(`SGR_PRIVILEGED=${JSON.stringify(request.privileged)} is not true or false; using false`);
    } else if (flag) {
      return "SGR_PRIVILEGED=true";
    }
  }
  return dind ? `the service ${dind} (Docker-in-Docker needs a privileged container)` : undefined;
}

function gpuRequest(request: PlacementRequest, caps: PlacementCaps, warnings: string[]): number {
  const raw = request.gpu?.trim();
  if (raw === undefined || raw === "") return 0;
  if (!/^\d+$/.test(raw)) {
    throw new PlacementRefusedError(`SGR_GPU=${JSON.stringify(request.gpu)} is not a whole number of GPUs`);
  }
  const gpus = Number(raw);
  if (gpus === 0) return 0;
  if (caps.managedInstances.maxGpus === 0) {
    throw new PlacementRefusedError(
      `this job asks for ${gpus} GPU(s) (SGR_GPU=${raw}), but this runner offers none ` +
        "(jobs.managedInstances.maxGpus is 0 in its configuration)",
    );
  }
  if (gpus > caps.managedInstances.maxGpus) {
    warnings.push(
      `SGR_GPU=${raw} is above this runner's maximum (${caps.managedInstances.maxGpus}); using ${caps.managedInstances.maxGpus}`,
    );
    return caps.managedInstances.maxGpus;
  }
  return gpus;
}

/** The job's placement, or PlacementRefusedError saying what it asked for and which setting refuses it. */
export function resolvePlacement(request: PlacementRequest, caps: PlacementCaps): Placement {
  const warnings: string[] = [];
  const privilegedBy = privilegedRequest(request, warnings);
  if (privilegedBy && !caps.allowPrivileged) {
    throw new PlacementRefusedError(
      `this job needs a privileged container (${privilegedBy}), but this runner does not allow privileged jobs ` +
        "(jobs.allowPrivileged is false in its configuration)",
    );
  }
  const gpus = gpuRequest(request, caps, warnings);
  let managedInstances = privilegedBy !== undefined || gpus > 0;
  if (isManagedInstancesCapacity(request.capacity)) {
    if (caps.managedInstances.enabled) managedInstances = true;
    else
      warnings.push(
        `SGR_CAPACITY=${request.capacity} is not offered by this runner (jobs.managedInstances.enabled is false); using Fargate`,
      );
  }
  // allowPrivileged and maxGpus > 0 both require managedInstances.enabled (schema), so this holds already.
  return { managedInstances, privileged: privilegedBy !== undefined, gpus, warnings };
}

/** The placement request of a job from its stage environment (`CUSTOM_ENV_*` job variables) and service images. */
export function placementRequestFrom(
  env: Record<string, string | undefined>,
  serviceImages: readonly string[],
): PlacementRequest {
  return {
    capacity: env.CUSTOM_ENV_SGR_CAPACITY,
    privileged: env.CUSTOM_ENV_SGR_PRIVILEGED,
    gpu: env.CUSTOM_ENV_SGR_GPU,
    serviceImages,
  };
}
