/**
 * A deployed-looking world in the shared moto for the CLI tests: state table, event bus, dead-letter queue,
 * cluster, an ECR image, and a real CloudFormation stack (a tiny template with the manager task definition
 * carrying SGR_RESOURCES, and the WebhookUrl output) — plus the real webhook handler served on loopback,
 * which is what the stack's WebhookUrl points at. Names are unique per world (moto is shared, never reset).
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CloudFormationClient, CreateStackCommand } from "@aws-sdk/client-cloudformation";
import { DescribeSubnetsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CreateRepositoryCommand, ECRClient, PutImageCommand } from "@aws-sdk/client-ecr";
import { CreateClusterCommand, ECSClient } from "@aws-sdk/client-ecs";
import { CreateEventBusCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { LambdaFunctionURLEvent } from "aws-lambda";
import { createWebhookHandler } from "../../src/webhook/app.js";
import { createWebhookDependencies } from "../../src/webhook/runtime.js";
import { createStateTable } from "../support/state-table.js";

export const ACCOUNT = "123456789012";

export interface CliWorld {
  id: string;
  stackName: string;
  config: Record<string, unknown>;
  tableName: string;
  queueUrl: string;
  clusterName: string;
  subnetId: string;
  webhookUrl: string;
  managerImage: string;
  repositoryName: string;
  /** Secret-ish values the webhook handler logged (must stay empty of secrets too). */
  webhookLogs: string[];
  stop(): Promise<void>;
}

export async function createCliWorld(gitlabUrl: string): Promise<CliWorld> {
  const id = randomUUID().slice(0, 8);
  const names = {
    table: `sgr-cli-state-${id}`,
    bus: `sgr-cli-bus-${id}`,
    queue: `sgr-cli-dlq-${id}`,
    cluster: `sgr-cli-${id}`,
    stack: `SgrCli${id}`,
    repository: `sgr-cli-manager-${id}`,
  };
  const config = {
    gitlab: { url: gitlabUrl },
    ssm: { webhookSecretParameter: `/sgr-cli/${id}/webhook-secret` },
    // No secret cache in the in-process webhook: a rotated secret applies at once (setup waits this long).
    webhook: { secretCacheTtlSeconds: 0 },
    runners: [
      { name: "default", tags: ["fargate"], runnerTokenParameter: `/sgr-cli/${id}/default/runner-token` },
      { name: "big", tags: ["fargate", "large"], runnerTokenParameter: `/sgr-cli/${id}/big/runner-token` },
    ],
  };
  await createStateTable(names.table);
  await new EventBridgeClient({}).send(new CreateEventBusCommand({ Name: names.bus }));
  const { QueueUrl } = await new SQSClient({}).send(new CreateQueueCommand({ QueueName: names.queue }));
  await new ECSClient({}).send(new CreateClusterCommand({ clusterName: names.cluster }));
  const subnets = (await new EC2Client({}).send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  const subnetId = subnets[0]?.SubnetId;
  if (!subnetId) throw new Error("moto has no default subnet");
  const ecr = new ECRClient({});
  await ecr.send(new CreateRepositoryCommand({ repositoryName: names.repository }));
  await ecr.send(
    new PutImageCommand({
      repositoryName: names.repository,
      imageTag: "v1",
      imageManifest: JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        layers: [],
      }),
    }),
  );
  await ecr.send(
    new PutImageCommand({
      repositoryName: names.repository,
      imageTag: "helper",
      imageManifest: JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        layers: [{ digest: "sha256:helper" }],
      }),
    }),
  );
  const managerImage = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${names.repository}:v1`;

  const resources = {
    eventBusName: names.bus,
    stateTableName: names.table,
    clusterArn: names.cluster,
    subnetIds: [subnetId],
    managerSecurityGroupIds: ["sg-12345678"],
    managerTaskDefinitions: { default: `sgr-cli-default-${id}`, big: `sgr-cli-big-${id}` },
    deadLetterQueueUrl: QueueUrl!,
    helperImage: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${names.repository}:helper`,
  };

  // The real webhook handler, as the Function URL would run it.
  const webhookLogs: string[] = [];
  const record = (level: string) => (message: string, extra?: unknown) =>
    webhookLogs.push(`${level} ${message} ${JSON.stringify(extra ?? {})}`);
  const logger = { info: record("info"), warn: record("warn"), error: record("error") };
  const env = {
    ...process.env,
    SGR_CONFIG: JSON.stringify(config),
    SGR_RESOURCES: JSON.stringify(resources),
  };
  const handler = createWebhookHandler((log) => createWebhookDependencies(env, log), logger);
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const event = {
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
      body: Buffer.concat(chunks).toString("utf8"),
      isBase64Encoded: false,
      requestContext: { http: { method: req.method ?? "POST" } },
    } as unknown as LambdaFunctionURLEvent;
    const result = await handler(event);
    res.writeHead(result.statusCode ?? 500, (result.headers ?? {}) as Record<string, string>);
    res.end(result.body ?? "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const taskDefinition = (runner: string, family: string) => ({
    Type: "AWS::ECS::TaskDefinition",
    Properties: {
      Family: family,
      RequiresCompatibilities: ["FARGATE"],
      NetworkMode: "awsvpc",
      Cpu: "512",
      Memory: "1024",
      ContainerDefinitions: [
        {
          Name: "manager",
          Image: managerImage,
          Environment: [
            { Name: "SGR_RUNNER_NAME", Value: runner },
            { Name: "SGR_CONFIG", Value: JSON.stringify(config) },
            { Name: "SGR_RESOURCES", Value: JSON.stringify(resources) },
          ],
        },
      ],
    },
  });
  const template = {
    AWSTemplateFormatVersion: "2010-09-09",
    Resources: {
      DefaultManager: taskDefinition("default", resources.managerTaskDefinitions.default),
      BigManager: taskDefinition("big", resources.managerTaskDefinitions.big),
    },
    Outputs: { WebhookUrl: { Value: webhookUrl } },
  };
  await new CloudFormationClient({}).send(
    new CreateStackCommand({ StackName: names.stack, TemplateBody: JSON.stringify(template) }),
  );

  return {
    id,
    stackName: names.stack,
    config,
    tableName: names.table,
    queueUrl: QueueUrl!,
    clusterName: names.cluster,
    subnetId,
    webhookUrl,
    managerImage,
    repositoryName: names.repository,
    webhookLogs,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
