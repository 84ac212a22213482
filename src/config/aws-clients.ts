/**
 * One retry and timeout policy for every AWS SDK client the product builds (the Lambdas, the manager, the driver
 * daemon, the CLI): standard mode (exponential backoff with jitter, retry quota) retries throttling, 5xx and
 * timeouts, and bounded connect and request timeouts make a hung connection fail instead of eating the caller's
 * time. What still fails is the caller's to handle: the Lambdas throw and EventBridge / Lambda retry the whole
 * event (every step is idempotent), then dead-letter it. The webhook's lean client (src/webhook/aws) has its own,
 * tighter per-attempt limit: GitLab gives a whole delivery 10 s.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export const AWS_CLIENT_SETTINGS = {
  retryMode: "standard",
  maxAttempts: 5,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
} as const;

type AwsClientSettings = typeof AWS_CLIENT_SETTINGS & { region?: string };

/** `new Client(...)` with the policy (and the region, when one is given rather than taken from the environment). */
export function createAwsClient<T>(Client: new (settings: AwsClientSettings) => T, region?: string): T {
  return new Client({ ...AWS_CLIENT_SETTINGS, ...(region ? { region } : {}) });
}

/** The state table's document client: the policy, and undefined attributes left out of items. */
export function createDocumentClient(region?: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(createAwsClient(DynamoDBClient, region), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * An S3 client with the policy. Behind an endpoint override (AWS_ENDPOINT_URL: a VPC endpoint, an emulator) it
 * addresses buckets by path, which every S3 endpoint serves; virtual-hosted names need DNS for each bucket.
 */
export function createS3Client<T>(
  Client: new (settings: AwsClientSettings & { forcePathStyle?: boolean }) => T,
  env: NodeJS.ProcessEnv = process.env,
): T {
  return new Client({
    ...AWS_CLIENT_SETTINGS,
    forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL),
  });
}
