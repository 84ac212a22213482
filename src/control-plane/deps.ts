/**
 * What the control-plane domain modules need from the outside world, passed in by the thin handlers
 * (and by tests): AWS clients, the GitLab API, a clock, and where logs and metrics go.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Config, Resources } from "../config/index.js";
import type { GitLabJob } from "../gitlab/rest-client.js";
import type { EcsApi } from "./manager-tasks.js";
import type { StateDb } from "./state-table.js";

/** The two GitLab reads the control plane makes (GitLabRestClient implements it). */
export interface GitLabJobsApi {
  getJob(projectId: number, jobId: number): Promise<GitLabJob>;
  listPendingJobs(projectId: number): Promise<GitLabJob[]>;
}

export type LogSink = Pick<Logger, "debug" | "info" | "warn" | "error">;

/** Where counts and durations go (Powertools Metrics in the handlers, an array in tests). */
export interface MetricsSink {
  count(name: string, value?: number): void;
  seconds(name: string, value: number): void;
  /** A unitless value (e.g. an estimated cost in USD). Optional: sinks that do not record it skip it. */
  value?(name: string, value: number): void;
}

export interface ControlPlaneDeps {
  config: Config;
  resources: Resources;
  db: StateDb;
  ecs: EcsApi;
  /** The GitLab API, or undefined when no read_api token is configured. May throw (token not readable). */
  gitlab: () => Promise<GitLabJobsApi | undefined>;
  now: () => number;
  logger: LogSink;
  metrics: MetricsSink;
}
