/**
 * CloudWatch embedded metric format (EMF) lines for long-lived processes (the manager and the driver daemon).
 *
 * Lambdas use Powertools Metrics, which buffers per invocation and flushes at its end. A process that serves many
 * jobs for hours has no invocation end, so a buffer would hold a job's metric until some later flush (or lose it
 * on a crash). Here every metric is one self-contained JSON line written at once to stdout, which the task's
 * awslogs driver ships to CloudWatch Logs, where EMF lines become metrics. Same namespace and dimension contract
 * as the Lambdas (src/observability/metric-names.ts): exactly one dimension, `service`.
 */
import { METRIC_NAMESPACE, type MetricName } from "./metric-names.js";

/** "None" for amounts CloudWatch has no unit for (USD). */
export type EmfUnit = "Seconds" | "Count" | "None";

export interface EmfMetric {
  name: MetricName;
  value: number;
  unit: EmfUnit;
}

/** Extra searchable fields of the line (e.g. jobId) — never dimensions, so they cost no extra metrics. */
export type EmfProperties = Record<string, string | number>;

/** The EMF document emfLine writes: the metric's value under its name, beside the properties. */
export interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  service: string;
  [field: string]: unknown;
}

/** One EMF document as a single line (with the trailing newline). */
export function emfLine(
  service: string,
  metric: EmfMetric,
  timestampMs: number,
  properties: EmfProperties = {},
): string {
  if (!Number.isFinite(metric.value)) throw new Error(`metric ${metric.name} has no finite value`);
  const document: EmfDocument = {
    // Properties first: a property named like a reserved key below must not replace it.
    ...properties,
    _aws: {
      Timestamp: Math.round(timestampMs),
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [["service"]],
          Metrics: [{ Name: metric.name, Unit: metric.unit }],
        },
      ],
    },
    service,
    [metric.name]: metric.value,
  };
  return `${JSON.stringify(document)}\n`;
}

export interface EmfWriter {
  /** Writes one metric now. Never throws: a metric must not fail a job or the manager. */
  seconds(name: MetricName, value: number, properties?: EmfProperties): void;
  /** Writes one USD amount now (unit None). Optional so recording writers of tests stay small. Never throws. */
  usd?(name: MetricName, value: number, properties?: EmfProperties): void;
  /** Counts one event now (unit Count). Optional like `usd`. Never throws. */
  count?(name: MetricName, properties?: EmfProperties): void;
}

export interface EmfWriterOptions {
  service: string;
  /** Where lines go (default: this process's stdout, i.e. the container log). */
  write?: (line: string) => void;
  now?: () => number;
}

export function createEmfWriter(options: EmfWriterOptions): EmfWriter {
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const now = options.now ?? Date.now;
  const emit = (metric: EmfMetric, properties: EmfProperties | undefined) => {
    try {
      write(emfLine(options.service, metric, now(), properties));
    } catch {
      // A non-finite value or a closed stdout: drop the metric rather than the job.
    }
  };
  return {
    seconds: (name, value, properties) => emit({ name, value, unit: "Seconds" }, properties),
    usd: (name, value, properties) => emit({ name, value, unit: "None" }, properties),
    count: (name, properties) => emit({ name, value: 1, unit: "Count" }, properties),
  };
}
