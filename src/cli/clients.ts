/**
 * The AWS clients the CLI uses, built once in main.ts and passed to every command (commands never build
 * clients, so tests hand them clients pointed at moto). SDK v3 honours AWS_ENDPOINT_URL and AWS_REGION.
 */
import { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ECRClient } from "@aws-sdk/client-ecr";
import { ECSClient } from "@aws-sdk/client-ecs";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
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

/** Fewer attempts than the Lambdas: an operator at a terminal wants a fast, clear failure. */
const CLI_CLIENT_SETTINGS = {
  retryMode: "standard",
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 15_000 },
} as const;

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

export function createAwsClients(region: string): AwsClients {
  const settings = { ...CLI_CLIENT_SETTINGS, region };
  return {
    cfn: new CloudFormationClient(settings),
    ecs: new ECSClient(settings),
    ssm: new SSMClient(settings),
    db: DynamoDBDocumentClient.from(new DynamoDBClient(settings), {
      marshallOptions: { removeUndefinedValues: true },
    }),
    sqs: new SQSClient(settings),
    ec2: new EC2Client(settings),
    ecr: new ECRClient(settings),
    region,
  };
}
