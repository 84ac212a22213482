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

/** Every client with the product's one retry and timeout policy (src/config/aws-clients.ts). */
export function createAwsClients(region: string | undefined): AwsClients {
  return {
    cfn: createAwsClient(CloudFormationClient, region),
    ecs: createAwsClient(ECSClient, region),
    ssm: createAwsClient(SSMClient, region),
    db: createDocumentClient(region),
    sqs: createAwsClient(SQSClient, region),
    ec2: createAwsClient(EC2Client, region),
    ecr: createAwsClient(ECRClient, region),
    region: region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
  };
}
