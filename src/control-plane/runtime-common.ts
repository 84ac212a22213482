/**
 * The part of the control-plane wiring every function shares (metrics; clients come from config/aws-clients.ts),
 * apart from runtime.ts so the job-status bundle does not carry the ECS and SSM clients.
 */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC_NAMESPACE } from "../observability/metric-names.js";
import type { MetricsSink } from "./deps.js";

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
