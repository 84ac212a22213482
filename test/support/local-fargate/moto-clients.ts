/** SDK clients the local Fargate uses to reach moto directly (never through its own proxy). */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { ECSClient } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SSMClient } from "@aws-sdk/client-ssm";

export interface MotoClients {
  region: string;
  ecs: ECSClient;
  ssm: SSMClient;
  secrets: SecretsManagerClient;
  logs: CloudWatchLogsClient;
  events: EventBridgeClient;
  s3: S3Client;
  destroy(): void;
}

export function motoClients(endpoint: string, region: string): MotoClients {
  const config = {
    endpoint,
    region,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    maxAttempts: 2,
  };
  const clients = {
    ecs: new ECSClient(config),
    ssm: new SSMClient(config),
    secrets: new SecretsManagerClient(config),
    logs: new CloudWatchLogsClient(config),
    events: new EventBridgeClient(config),
    s3: new S3Client({ ...config, forcePathStyle: true }),
  };
  return {
    region,
    ...clients,
    destroy: () => {
      for (const c of Object.values(clients)) c.destroy();
    },
  };
}
