/** The webhook's metrics through Powertools (CloudWatch embedded metric format, one line per request). */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC_NAMESPACE } from "../observability/metric-names.js";
import type { DeliveryMetrics } from "./delivery.js";

export interface FlushableMetrics {
  metrics: DeliveryMetrics;
  /** Writes what was recorded since the last flush; nothing when nothing was (no empty-metrics warning). */
  flush(): void;
}

export function powertoolsDeliveryMetrics(serviceName: string): FlushableMetrics {
  const powertools = new Metrics({ namespace: METRIC_NAMESPACE, serviceName });
  let recorded = false;
  return {
    metrics: {
      count(name, value = 1) {
        powertools.addMetric(name, MetricUnit.Count, value);
        recorded = true;
      },
    },
    flush() {
      if (!recorded) return;
      recorded = false;
      powertools.publishStoredMetrics();
    },
  };
}
