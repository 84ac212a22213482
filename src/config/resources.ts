/**
 * Identifiers of deployed resources, set by the CDK app as environment of each function and of the
 * manager task. Separate from the user configuration: the user never writes these.
 */
// Namespace import: lets esbuild drop the parts of zod a bundle does not use (~360 KB, ~50 ms of cold start).
import * as z from "zod";

const nonEmpty = z.string().min(1);

export const resourcesSchema = z
  .object({
    /** EventBridge bus the webhook puts job events on. */
    eventBusName: nonEmpty,
    /** DynamoDB table holding manager slots and job records. */
    stateTableName: nonEmpty,
    /** ECS cluster (name or ARN) where managers and job tasks run. */
    clusterArn: nonEmpty,
    /** Subnets and security group for manager tasks. */
    subnetIds: z.array(nonEmpty).min(1),
    managerSecurityGroupIds: z.array(nonEmpty).min(1),
    /** Security group for job tasks (accepts only the manager's channel). */
    jobSecurityGroupIds: z.array(nonEmpty).default([]),
    assignPublicIp: z.boolean().default(true),
    /**
     * Manager task definition per runner configuration name: the revision-pinned ARN the stack created (scale-up
     * and the scheduler start exactly that revision); empty in the manager task's own copy.
     */
    managerTaskDefinitions: z.record(z.string(), nonEmpty),
    /** Queue that receives what could not be processed after retries. */
    deadLetterQueueUrl: nonEmpty.optional(),
    /** S3 bucket of the distributed runner cache. */
    cacheBucketName: nonEmpty.optional(),
    /** Job tasks (fargate backend): role the job's containers run as (task role). */
    jobTaskRoleArn: nonEmpty.optional(),
    /** Job tasks: role ECS pulls images (ECR, repositoryCredentials secrets) and writes logs with. */
    jobExecutionRoleArn: nonEmpty.optional(),
    /** Job tasks: our helper image (agent, git, git-lfs, gitlab-runner); its tag is part of the task-definition cache key. */
    helperImage: nonEmpty.optional(),
    /** Job tasks: CloudWatch Logs group of the job containers (awslogs driver). */
    jobLogGroupName: nonEmpty.optional(),
    /**
     * Job tasks: this deployment's part of the task-definition family names (`sgr-job-<scope>-<hash>`), so
     * deployments sharing an account never use or retire each other's definitions.
     */
    jobFamilyScope: z
      .string()
      .regex(/^[0-9a-f]{8}$/, "must be 8 lowercase hex digits")
      .optional(),
    /** Job tasks: the ECS Managed Instances capacity provider (name) privileged and GPU jobs run on, when deployed. */
    managedInstancesCapacityProvider: nonEmpty.optional(),
    /** Job tasks: the Managed Instances capacity provider with GPU instances (GPU jobs), when deployed. */
    managedInstancesGpuCapacityProvider: nonEmpty.optional(),
    /** S3 bucket of speculative job tasks' channel secret files (`environmentFiles`); none: no speculative starts. */
    channelSecretsBucketName: nonEmpty.optional(),
    /** Job tasks: the helper image per job architecture (an image asset is built per platform); `helperImage` is the default one. */
    helperImages: z.object({ x86_64: nonEmpty.optional(), arm64: nonEmpty.optional() }).strict().optional(),
  })
  .strict();
export type Resources = z.infer<typeof resourcesSchema>;
