/** SDK clients the local Fargate uses to reach moto directly (never through its own proxy). */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { ECSClient } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SSMClient } from "@aws-sdk/client-ssm";

export interface MotoClients {
  region: string;
  ecs: ECSClient;
  ssm: SSMClient;
  secrets: SecretsManagerClient;
  logs: CloudWatchLogsClient;
  events: EventBridgeClient;
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
  };
  return {
    region,
    ...clients,
    destroy: () => {
      for (const c of Object.values(clients)) c.destroy();
    },
  };
}
