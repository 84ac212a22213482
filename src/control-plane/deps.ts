/**
 * What the control-plane domain modules need from the outside world, passed in by the thin handlers
 * (and by tests): AWS clients, the GitLab API, a clock, and where logs and metrics go.
 */
import type { Config, Resources } from "../config/index.js";
import type { EcsApi } from "../fargate/ecs.js";
import type { GitLabJob } from "../gitlab/rest-client.js";
import type { LogSink, MetricsSink } from "../observability/sinks.js";
import type { StateDb } from "../state/table.js";

/** The two GitLab reads the control plane makes (GitLabRestClient implements it). */
export interface GitLabJobsApi {
  getJob(projectId: number, jobId: number): Promise<GitLabJob>;
  listPendingJobs(projectId: number): Promise<GitLabJob[]>;
}

export type { LogSink, MetricsSink } from "../observability/sinks.js";

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
