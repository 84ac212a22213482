/**
 * The task metadata endpoint v4, as a Fargate container reads it at $ECS_CONTAINER_METADATA_URI_V4: the container
 * at the base URI, the whole task at `/task`. Only the fields programs commonly read are given.
 */
import type { Container } from "@aws-sdk/client-ecs";
import type { TaskRuntime } from "./task-runtime.js";

function containerDoc(runtime: TaskRuntime, container: Container): Record<string, unknown> {
  return {
    DockerId: container.runtimeId ?? "",
    Name: container.name,
    DockerName: container.runtimeId ?? "",
    Image: container.image,
    DesiredStatus: runtime.task.desiredStatus,
    KnownStatus: container.lastStatus,
    ContainerARN: container.containerArn,
    Networks: [
      {
        NetworkMode: "awsvpc",
        IPv4Addresses: runtime.privateAddress ? [runtime.privateAddress] : [],
      },
    ],
    ...(container.exitCode !== undefined ? { ExitCode: container.exitCode } : {}),
  };
}

export function containerMetadata(runtime: TaskRuntime, name: string): Record<string, unknown> | undefined {
  const container = runtime.task.containers?.find((c) => c.name === name);
  return container ? containerDoc(runtime, container) : undefined;
}

export function taskMetadata(runtime: TaskRuntime): Record<string, unknown> {
  const task = runtime.task;
  const [family, revision] = (task.taskDefinitionArn ?? "").split("/").pop()?.split(":") ?? [];
  return {
    Cluster: task.clusterArn,
    TaskARN: task.taskArn,
    Family: family,
    Revision: revision,
    DesiredStatus: task.desiredStatus,
    KnownStatus: task.lastStatus,
    Limits: { CPU: Number(task.cpu) / 1024, Memory: Number(task.memory) },
    PullStartedAt: task.pullStartedAt?.toISOString(),
    PullStoppedAt: task.pullStoppedAt?.toISOString(),
    AvailabilityZone: task.availabilityZone,
    LaunchType: "FARGATE",
    Containers: (task.containers ?? []).map((c) => containerDoc(runtime, c)),
    ClockDrift: {
      ClockErrorBound: 0.5,
      ReferenceTimestamp: new Date().toISOString(),
      ClockSynchronizationStatus: "SYNCHRONIZED",
    },
    EphemeralStorageMetrics: { Utilized: 0, Reserved: (task.ephemeralStorage?.sizeInGiB ?? 20) * 1024 },
  };
}
