/**
 * Where a job's task runs, applied to what the job asked for: ECS Managed Instances (privileged, GPUs) or Fargate,
 * refused with the reason when the runner does not allow it (src/driver/placement.ts), and on Managed Instances the
 * Docker-in-Docker wiring and no Fargate capacity for sizing to pick.
 */
import type { JobCapacity } from "../../config/schema.js";
import { withDockerInDocker } from "../docker-in-docker.js";
import type { JobSpec, StageEnv } from "../job-spec.js";
import { type Placement, type PlacementCaps, placementRequestFrom, resolvePlacement } from "../placement.js";

export interface PlacedJobSpec extends JobSpec {
  placement: Placement;
}

/** The job spec as it will run: placed, its containers wired, the placement's warnings with the spec's. */
export function placeJob(spec: JobSpec, env: StageEnv, caps: PlacementCaps): PlacedJobSpec {
  const placement = resolvePlacement(
    placementRequestFrom(
      env,
      spec.services.map((s) => s.image),
    ),
    caps,
  );
  const containers = placement.privileged
    ? withDockerInDocker(spec.build, spec.services, env.CUSTOM_ENV_DOCKER_TLS_CERTDIR)
    : { build: spec.build, services: spec.services };
  return {
    ...spec,
    ...containers,
    // On Managed Instances SGR_CAPACITY named them (or privileges/GPUs chose them): no Fargate capacity to pick.
    sizeRequest: placement.managedInstances ? { ...spec.sizeRequest, capacity: undefined } : spec.sizeRequest,
    warnings: [...spec.warnings, ...placement.warnings],
    placement,
  };
}

/** The capacity a job runs on: Managed Instances when placed there, else what sizing chose. */
export function jobCapacity(placement: Placement, fargateCapacity: JobCapacity): JobCapacity {
  return placement.managedInstances ? "MANAGED_INSTANCES" : fargateCapacity;
}

/** `, privileged, 1 GPU` for the job log's "Starting job task" line. */
export function placementNote(placement: Placement): string {
  return `${placement.privileged ? ", privileged" : ""}${placement.gpus > 0 ? `, ${placement.gpus} GPU` : ""}`;
}
