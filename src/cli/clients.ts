/**
 * The AWS clients the CLI uses, built once in main.ts and passed to every command (commands never build
 * clients, so tests hand them clients pointed at moto). SDK v3 honours AWS_ENDPOINT_URL and AWS_REGION.
 */
import { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ECRClient } from "@aws-sdk/client-ecr";
import { ECSClient } from "@aws-sdk/client-ecs";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createAwsClient, createDocumentClient } from "../config/aws-clients.js";
import { CliError, EXIT } from "./exit-codes.js";

export interface AwsClients {
  cfn: CloudFormationClient;
  ecs: ECSClient;
  ssm: SSMClient;
  db: DynamoDBDocumentClient;
  sqs: SQSClient;
  ec2: EC2Client;
  ecr: ECRClient;
  region: string;
}

/**
 * The region every client uses, so the one the CLI shows is the one it talks to: `--region`, else AWS_REGION,
 * else the AWS profile's, else AWS_DEFAULT_REGION (which the SDK itself ignores). None is a configuration error.
 */
export async function resolveRegion(given: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (given) return given;
  if (env.AWS_REGION) return env.AWS_REGION;
  const fromProfile = await new CloudFormationClient({ region: undefined }).config
    .region()
    .catch(() => undefined);
  const region = fromProfile || env.AWS_DEFAULT_REGION;
  if (region) return region;
  throw new CliError(
    "no AWS region is set",
    EXIT.usage,
    "pass --region <region>, or export AWS_REGION=<region>, or set a region in your AWS profile (aws configure)",
  );
}

/** Every client with the product's one retry and timeout policy (src/config/aws-clients.ts), in one region. */
export function createAwsClients(region: string): AwsClients {
  return {
    cfn: createAwsClient(CloudFormationClient, region),
    ecs: createAwsClient(ECSClient, region),
    ssm: createAwsClient(SSMClient, region),
    db: createDocumentClient(region),
    sqs: createAwsClient(SQSClient, region),
    ec2: createAwsClient(EC2Client, region),
    ecr: createAwsClient(ECRClient, region),
    region,
  };
}
