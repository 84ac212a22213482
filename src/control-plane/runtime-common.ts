/**
 * The part of the control-plane wiring every function shares (retry policy, state-table client, metrics),
 * apart from runtime.ts so the job-status bundle does not carry the ECS and SSM clients.
 */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { METRIC_NAMESPACE } from "../observability/metric-names.js";
import type { MetricsSink } from "./deps.js";

/**
 * SDK retry policy of every control-plane client: standard mode (exponential backoff with jitter, retry
 * quota) retries throttling, 5xx and timeouts; what still fails makes the handler throw, and EventBridge /
 * Lambda retry the whole event (every step is idempotent), then dead-letter it.
 */
export const AWS_CLIENT_SETTINGS = {
  retryMode: "standard",
  maxAttempts: 5,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
} as const;

/** The state table's document client (all the job-status function needs). */
export function createDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(AWS_CLIENT_SETTINGS), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** Powertools Metrics (CloudWatch embedded metric format) behind the domain's MetricsSink. */
export function powertoolsMetrics(serviceName: string): { sink: MetricsSink; metrics: Metrics } {
  const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName });
  return {
    metrics,
    sink: {
      count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
      seconds: (name, value) => metrics.addMetric(name, MetricUnit.Seconds, value),
      value: (name, value) => metrics.addMetric(name, MetricUnit.NoUnit, value),
    },
  };
}
