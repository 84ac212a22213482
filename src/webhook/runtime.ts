/**
 * Cold-start wiring of the webhook: validated configuration and the AWS clients, built once per
 * container. The clients are the lean JSON-protocol client (aws/json-client.ts), not the SDK's: the
 * webhook's cold start is on GitLab's delivery clock, and the SDK's client stack would triple it.
 */
import { loadConfigFromEnv, loadResourcesFromEnv } from "../config/load.js";
import { createDeliveryLedger } from "../gitlab/delivery-ledger.js";
import { createWebhookSecretProvider } from "../gitlab/webhook-secrets.js";
import {
  dynamoDeliveryTable,
  eventBridgePublisher,
  sqsDeadLetterSink,
  ssmParameterReader,
} from "./aws/adapters.js";
import {
  AwsJsonClient,
  type AwsJsonClientOptions,
  DYNAMODB_SERVICE,
  EVENTBRIDGE_SERVICE,
  SQS_SERVICE,
  SSM_SERVICE,
} from "./aws/json-client.js";
import type { DeliveryLog, DeliveryMetrics, WebhookDependencies } from "./delivery.js";

/** GitLab gives a delivery 10 s: 3 attempts of at most 2.5 s each (plus backoff) stay inside it. */
const CLIENT_OPTIONS: AwsJsonClientOptions = { timeoutMs: 2500, maxAttempts: 3 };

/** Builds the dependencies from the environment; throws ConfigError for a bad SGR_CONFIG/SGR_RESOURCES. */
export function createWebhookDependencies(
  env: NodeJS.ProcessEnv,
  log: DeliveryLog,
  clientOptions: AwsJsonClientOptions = {},
  metrics: DeliveryMetrics = { count() {} },
): WebhookDependencies {
  const config = loadConfigFromEnv(env);
  const resources = loadResourcesFromEnv(env);
  const options = { ...CLIENT_OPTIONS, env, ...clientOptions };
  return {
    settings: {
      maxBodyBytes: config.webhook.maxBodyBytes,
      signatureToleranceSeconds: config.webhook.signatureToleranceSeconds,
      requireSignature: config.webhook.requireSignature,
    },
    secrets: createWebhookSecretProvider({
      ssm: ssmParameterReader(new AwsJsonClient(SSM_SERVICE, options)),
      secretTokenParameter: config.ssm.webhookSecretParameter,
      signingTokenParameter: config.ssm.webhookSigningTokenParameter,
      ttlSeconds: config.webhook.secretCacheTtlSeconds,
      onStaleServed: (error) => log.warn("serving cached webhook secrets", { error: (error as Error).name }),
    }),
    ledger: createDeliveryLedger(
      dynamoDeliveryTable(new AwsJsonClient(DYNAMODB_SERVICE, options)),
      resources.stateTableName,
    ),
    publisher: eventBridgePublisher(new AwsJsonClient(EVENTBRIDGE_SERVICE, options)),
    eventBusName: resources.eventBusName,
    deadLetters: resources.deadLetterQueueUrl
      ? sqsDeadLetterSink(new AwsJsonClient(SQS_SERVICE, options), resources.deadLetterQueueUrl)
      : null,
    log,
    metrics,
    now: Date.now,
  };
}
