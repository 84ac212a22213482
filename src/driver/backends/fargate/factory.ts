/**
 * Wires the fargate backend from the deployed resources (SGR_RESOURCES): one task-definition cache per process,
 * shared by every job the manager's driver runs. The ECS client is the caller's (one per process).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Resources } from "../../../config/resources.js";
import type { Architecture } from "../../../config/schema.js";
import { type S3Api, s3ChannelSecrets } from "../../../fargate/channel-secrets.js";
import type { EcsApi } from "../../../fargate/ecs.js";
import { FargateBackend } from "./backend.js";
import { TaskDefinitionCache } from "./task-definitions.js";

export interface FargateBackendDeps {
  ecs: EcsApi;
  /** S3 client for speculative tasks' secret files; used when resources.channelSecretsBucketName is set. */
  s3?: S3Api;
  /** Claims a job's speculative start for the driver (the state table's claim), so a late scale-up starts none. */
  claimSpeculativeStart?: (runnerName: string, jobId: string) => Promise<boolean>;
  resources: Resources;
  /** Region of the job log group (the awslogs driver needs it spelled out). */
  region: string;
  logger?: Pick<Logger, "info" | "warn">;
  /** Build-container command (default: the build loop of src/driver/backends/build-loop.ts). */
  buildCommand?: readonly string[];
}

/** Resource fields the fargate backend cannot run without, with what each is for. */
const REQUIRED = {
  jobExecutionRoleArn: "the role ECS pulls job images and writes job logs with",
  jobLogGroupName: "the log group of job containers",
} as const;

/** The deployed helper image for an architecture: the per-architecture one, else the default one. */
export function deployedHelperImage(resources: Resources, architecture: Architecture): string | undefined {
  return resources.helperImages?.[architecture] ?? resources.helperImage;
}

export function createFargateBackend(deps: FargateBackendDeps): {
  backend: FargateBackend;
  taskDefinitions: TaskDefinitionCache;
} {
  const { resources } = deps;
  const missing: string[] = (Object.keys(REQUIRED) as (keyof typeof REQUIRED)[])
    .filter((key) => !resources[key])
    .map((key) => `resources.${key} (${REQUIRED[key]})`);
  if (!resources.helperImage && !resources.helperImages?.x86_64 && !resources.helperImages?.arm64) {
    missing.push("resources.helperImage or resources.helperImages (the helper image of job tasks)");
  }
  if (missing.length > 0) {
    throw new Error(
      `the fargate backend needs ${missing.join(", ")}; the CDK app sets them in SGR_RESOURCES`,
    );
  }
  const taskDefinitions = new TaskDefinitionCache(
    deps.ecs,
    {
      region: deps.region,
      logGroupName: resources.jobLogGroupName!,
      executionRoleArn: resources.jobExecutionRoleArn!,
      taskRoleArn: resources.jobTaskRoleArn,
      buildCommand: deps.buildCommand,
      familyScope: resources.jobFamilyScope,
    },
    { logger: deps.logger },
  );
  const backend = new FargateBackend({
    ecs: deps.ecs,
    cluster: resources.clusterArn,
    subnetIds: resources.subnetIds,
    securityGroupIds: resources.jobSecurityGroupIds,
    assignPublicIp: resources.assignPublicIp,
    taskDefinitions,
    helperImageFor: (architecture) => deployedHelperImage(resources, architecture),
    channelSecrets:
      deps.s3 && resources.channelSecretsBucketName
        ? s3ChannelSecrets(deps.s3, resources.channelSecretsBucketName)
        : undefined,
    claimSpeculativeStart: deps.claimSpeculativeStart,
    managedInstancesCapacityProvider: resources.managedInstancesCapacityProvider,
    managedInstancesGpuCapacityProvider: resources.managedInstancesGpuCapacityProvider,
    logger: deps.logger,
  });
  return { backend, taskDefinitions };
}
