/** Where a domain module's logs and metrics go: Powertools in the handlers, arrays in tests. */
import type { Logger } from "@aws-lambda-powertools/logger";

export type LogSink = Pick<Logger, "debug" | "info" | "warn" | "error">;

/** Where counts and durations go (Powertools Metrics in the handlers, an array in tests). */
export interface MetricsSink {
  count(name: string, value?: number): void;
  seconds(name: string, value: number): void;
  /** A unitless value (e.g. an estimated cost in USD). Optional: sinks that do not record it skip it. */
  value?(name: string, value: number): void;
}
