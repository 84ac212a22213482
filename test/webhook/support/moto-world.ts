/**
 * Real AWS resources in moto for the webhook: SSM SecureStrings, a state table (pk/sk), a bus whose
 * rules are built from the SAME pattern objects the CDK app uses, each targeting an SQS queue, and a
 * dead-letter queue. Names are unique per call (moto is shared by every test file and never reset).
 */
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { JOB_STATUS_PATTERN, PENDING_JOB_PATTERN } from "../../../src/events/patterns.js";
import { createStateTable } from "../../support/state-table.js";
import { SECRET_TOKEN, SIGNING_TOKEN } from "./fakes.js";

export interface MotoWorld {
  /** The process environment (moto endpoint, fake credentials) plus this world's SGR_CONFIG/SGR_RESOURCES. */
  env: NodeJS.ProcessEnv & { SGR_CONFIG: string; SGR_RESOURCES: string };
  names: { bus: string; table: string; tokenParameter: string; signingParameter: string };
  queues: { pending: string; allStatuses: string; deadLetter: string };
  ssm: SSMClient;
  dynamo: DynamoDBClient;
  sqs: SQSClient;
}

export interface MotoWorldOptions {
  /** Put events on a bus that does not exist, so every PutEvents entry fails. */
  missingBus?: boolean;
  /** Configure no signing token parameter (token-only deployment). */
  withoutSigning?: boolean;
  webhook?: Record<string, unknown>;
}

async function queue(sqs: SQSClient, name: string): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const attributes = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  return { url: QueueUrl!, arn: attributes.Attributes!.QueueArn! };
}

export async function createMotoWorld(options: MotoWorldOptions = {}): Promise<MotoWorld> {
  const id = randomUUID().slice(0, 8);
  const ssm = new SSMClient({});
  const dynamo = new DynamoDBClient({});
  const events = new EventBridgeClient({});
  const sqs = new SQSClient({});
  const names = {
    bus: `sgr-webhook-${id}`,
    table: `sgr-state-${id}`,
    tokenParameter: `/sgr-test/${id}/webhook-secret`,
    signingParameter: `/sgr-test/${id}/webhook-signing-token`,
  };
  await ssm.send(
    new PutParameterCommand({ Name: names.tokenParameter, Value: SECRET_TOKEN, Type: "SecureString" }),
  );
  await ssm.send(
    new PutParameterCommand({ Name: names.signingParameter, Value: SIGNING_TOKEN, Type: "SecureString" }),
  );
  await createStateTable(names.table, dynamo);
  await events.send(new CreateEventBusCommand({ Name: names.bus }));
  const pending = await queue(sqs, `sgr-pending-${id}`);
  const allStatuses = await queue(sqs, `sgr-all-${id}`);
  const deadLetter = await queue(sqs, `sgr-dlq-${id}`);
  for (const [rule, pattern, target] of [
    [`pending-${id}`, PENDING_JOB_PATTERN, pending],
    [`all-${id}`, JOB_STATUS_PATTERN, allStatuses],
  ] as const) {
    await events.send(
      new PutRuleCommand({ Name: rule, EventBusName: names.bus, EventPattern: JSON.stringify(pattern) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: rule,
        EventBusName: names.bus,
        Targets: [{ Id: "queue", Arn: target.arn }],
      }),
    );
  }
  const config = {
    gitlab: { url: "https://gitlab.example.com" },
    runners: [{ name: "default", tags: ["fargate"] }],
    ssm: {
      webhookSecretParameter: names.tokenParameter,
      ...(options.withoutSigning ? {} : { webhookSigningTokenParameter: names.signingParameter }),
    },
    ...(options.webhook ? { webhook: options.webhook } : {}),
  };
  const resources = {
    eventBusName: options.missingBus ? `sgr-missing-${id}` : names.bus,
    stateTableName: names.table,
    clusterArn: `sgr-cluster-${id}`,
    subnetIds: ["subnet-12345678"],
    managerSecurityGroupIds: ["sg-12345678"],
    managerTaskDefinitions: { default: "sgr-manager" },
    deadLetterQueueUrl: deadLetter.url,
  };
  return {
    env: { ...process.env, SGR_CONFIG: JSON.stringify(config), SGR_RESOURCES: JSON.stringify(resources) },
    names,
    queues: { pending: pending.url, allStatuses: allStatuses.url, deadLetter: deadLetter.url },
    ssm,
    dynamo,
    sqs,
  };
}

/** Receives until `expected` messages arrived (or the deadline passed), then checks nothing more trickles in. */
export async function drainQueue(
  sqs: SQSClient,
  url: string,
  expected: number,
  deadlineMs = 5000,
): Promise<Message[]> {
  const messages: Message[] = [];
  const deadline = Date.now() + deadlineMs;
  while (messages.length < expected && Date.now() < deadline) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    messages.push(...(out.Messages ?? []));
    if (!out.Messages?.length) await new Promise((r) => setTimeout(r, 50));
  }
  const extra = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  messages.push(...(extra.Messages ?? []));
  return messages;
}
