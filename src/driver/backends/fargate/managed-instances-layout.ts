/**
 * What a job task definition gains on ECS Managed Instances: the MANAGED_INSTANCES compatibility, privileged build
 * and service containers, the build container's GPUs, and for a Docker-in-Docker service the `/certs/client` volume
 * it shares with the build container (GitLab's Docker executor shares it through the runner's `volumes`). Applied
 * to the Fargate layout of layout.ts, so a Managed Instances task differs from a Fargate one only here.
 */
import type { ContainerDefinition, RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import type { JobTaskShape } from "../../backend.js";
import { DOCKER_CERTS_DIR } from "../../docker-in-docker.js";
import { isDindService } from "../../placement.js";

export const DOCKER_CERTS_VOLUME = { name: "docker-certs", containerPath: DOCKER_CERTS_DIR } as const;

type TaskDefinitionBody = Omit<RegisterTaskDefinitionCommandInput, "family">;

function withCertsMount(container: ContainerDefinition): ContainerDefinition {
  return {
    ...container,
    mountPoints: [
      ...(container.mountPoints ?? []),
      {
        sourceVolume: DOCKER_CERTS_VOLUME.name,
        containerPath: DOCKER_CERTS_VOLUME.containerPath,
        readOnly: false,
      },
    ],
  };
}

/** The Fargate layout turned into the Managed Instances one; unchanged when the shape is not placed there. */
export function managedInstancesLayout(
  body: TaskDefinitionBody,
  shape: JobTaskShape,
  buildContainerName: string,
): TaskDefinitionBody {
  const placement = shape.managedInstances;
  if (!placement) return body;
  const dindNames = new Set(shape.services.filter((s) => isDindService(s.image)).map((s) => s.name));
  const sharesCerts = placement.privileged && dindNames.size > 0;
  const containerDefinitions = (body.containerDefinitions ?? []).map((container) => {
    const isBuild = container.name === buildContainerName;
    const isService = container.name !== undefined && shape.services.some((s) => s.name === container.name);
    let out = container;
    if (placement.privileged && (isBuild || isService)) out = { ...out, privileged: true };
    if (isBuild && placement.gpus > 0) {
      out = { ...out, resourceRequirements: [{ type: "GPU", value: String(placement.gpus) }] };
    }
    if (sharesCerts && (isBuild || dindNames.has(container.name ?? ""))) out = withCertsMount(out);
    return out;
  });
  return {
    ...body,
    requiresCompatibilities: ["MANAGED_INSTANCES"],
    volumes: sharesCerts ? [...(body.volumes ?? []), { name: DOCKER_CERTS_VOLUME.name }] : body.volumes,
    containerDefinitions,
  };
}
