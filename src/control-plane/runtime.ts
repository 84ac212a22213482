/**
 * Composition root of the control-plane Lambdas: builds the AWS clients (standard retry mode, bounded
 * timeouts), the GitLab API access and the metrics sink from the environment, once per container.
 * Domain modules never construct clients; they get these passed in.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { ECSClient } from "@aws-sdk/client-ecs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createAwsClient, createDocumentClient } from "../config/aws-clients.js";
import { type Config, loadConfigFromEnv, loadResourcesFromEnv, type Resources } from "../config/index.js";
import { restClientFromTokenSource, ssmApiTokenSource } from "../gitlab/rest-client-token.js";
import type { ControlPlaneDeps, MetricsSink } from "./deps.js";

export { powertoolsMetrics } from "./runtime-common.js";

export interface ControlPlaneClients {
  db: DynamoDBDocumentClient;
  ecs: ECSClient;
  ssm: SSMClient;
}

export function createClients(): ControlPlaneClients {
  return {
    db: createDocumentClient(),
    ecs: createAwsClient(ECSClient),
    ssm: createAwsClient(SSMClient),
  };
}

export function createControlPlaneDeps(options: {
  config?: Config;
  resources?: Resources;
  clients?: ControlPlaneClients;
  logger: Logger;
  metrics: MetricsSink;
  now?: () => number;
}): ControlPlaneDeps {
  const config = options.config ?? loadConfigFromEnv();
  const resources = options.resources ?? loadResourcesFromEnv();
  const clients = options.clients ?? createClients();
  const tokens = ssmApiTokenSource(clients.ssm, config.ssm.gitlabApiTokenParameter);
  return {
    config,
    resources,
    db: clients.db,
    ecs: clients.ecs,
    gitlab: () => restClientFromTokenSource(config.gitlab.url, tokens),
    now: options.now ?? Date.now,
    logger: options.logger,
    metrics: options.metrics,
  };
}
