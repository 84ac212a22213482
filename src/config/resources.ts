/**
 * Identifiers of deployed resources, set by the CDK app as environment of each function and of the
 * manager task. Separate from the user configuration: the user never writes these.
 */
import { z } from "zod";

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
    /** Manager task definition (family or ARN) per runner configuration name. */
    managerTaskDefinitions: z.record(z.string(), nonEmpty),
    /** Queue that receives what could not be processed after retries. */
    deadLetterQueueUrl: nonEmpty.optional(),
    /** S3 bucket of the distributed runner cache. */
    cacheBucketName: nonEmpty.optional(),
  })
  .strict();
export type Resources = z.infer<typeof resourcesSchema>;
