/**
 * CloudWatch metric names shared by the code that emits them (Powertools Metrics, embedded metric format)
 * and the CDK alarms and dashboard that read them. An alarm on a name nobody emits never fires, so both
 * sides import these constants instead of spelling the strings.
 *
 * Dimension contract: every metric is emitted with exactly one dimension, `service`, whose value is the
 * emitting function's name in `src/functions/catalog.ts` (Powertools adds it from POWERTOOLS_SERVICE_NAME,
 * which the CDK sets per function; the manager task uses `manager`). Alarms match on that dimension.
 */

/** Namespace of every metric of the product (the CDK sets POWERTOOLS_METRICS_NAMESPACE to it). */
export const METRIC_NAMESPACE = "ServerlessGitlabRunner";

/** Name of the `service` dimension value the manager task emits with (functions use their catalog name). */
export const MANAGER_METRIC_SERVICE = "manager";

export const METRICS = {
  /** webhook: an authentic delivery accepted (Count). */
  webhookAccepted: "WebhookAccepted",
  /** webhook: a delivery refused (bad/missing token or signature, too large, not JSON) (Count). */
  webhookRejected: "WebhookRejected",
  /** webhook: job events put on the bus (Count). */
  jobEventsPublished: "JobEventsPublished",
  /** scale-up: a manager task started (Count). */
  managerStarted: "ManagerStarted",
  /** scale-up: RunTask for a manager failed (Count). */
  managerStartFailed: "ManagerStartFailed",
  /** scheduler: an idle manager asked to drain (Count). */
  managerDrained: "ManagerDrained",
  /** scheduler: a manager found stopped or gone without draining (Count). */
  managerCrashed: "ManagerCrashed",
  /** scheduler: managers running past their maxLifetimeSeconds (Count, emitted each period while true). */
  managerOverAge: "ManagerOverAge",
  /** scheduler: managers active (Count, gauge per period). */
  managersActive: "ManagersActive",
  /** job-status: a job went pending → running; value = GitLab's queued duration (Seconds). */
  jobQueuedSeconds: "JobQueuedSeconds",
  /** job-status: jobs that finished, by outcome dimension-free counts (Count). */
  jobSucceeded: "JobSucceeded",
  jobFailed: "JobFailed",
  /** scheduler (reconciler): a pending job whose webhook was lost and which the reconciler started (Count). */
  jobReconciled: "JobReconciled",
  /** scale-up: Fargate Spot had no capacity, the manager was started on FARGATE instead (Count). */
  managerSpotFallback: "ManagerSpotFallback",
  /** scheduler: a manager stopped with StopTask (heartbeat lost, or draining past maxJobSeconds) (Count). */
  managerForceStopped: "ManagerForceStopped",
  /** job-status: time from our first sight of a job pending to its running event (Seconds). */
  jobPendingToRunningSeconds: "JobPendingToRunningSeconds",
  /** scale-up: queue-to-start phase "webhook → manager start request": event received → RunTask accepted (Seconds). */
  jobWebhookToManagerStartSeconds: "JobWebhookToManagerStartSeconds",
  /** job-status: a finished job's running → finished time as we saw it (Seconds). */
  jobDurationSeconds: "JobDurationSeconds",
  /** job-status: a finished job's estimated compute cost in USD (src/observability/cost.ts; default job size). */
  jobEstimatedCostUsd: "JobEstimatedCostUsd",
  /** manager: queue-to-start phase "manager running": scale-up's start request (record startedAt) → the manager
   * marks its record RUNNING, once per manager (Seconds; src/observability/emf.ts, service `manager`). */
  managerStartToRunningSeconds: "ManagerStartToRunningSeconds",
  /** driver daemon (prepare): phase "job task running": job start (CI_JOB_STARTED_AT, else prepare's start) →
   * the job task's agent answers, once per successful preparation (Seconds; service `manager`). */
  jobTaskRunningSeconds: "JobTaskRunningSeconds",
  /** driver daemon (run): phase "first script byte": job start → first output byte of the first user-image
   * (build container) stage, once per job (Seconds; service `manager`). */
  jobFirstScriptByteSeconds: "JobFirstScriptByteSeconds",
  /** driver daemon (cleanup): the job task's run time, task started (RunTask answered with an address) → stopped,
   * once per job (Seconds; service `manager`). */
  jobTaskSeconds: "JobTaskSeconds",
  /** driver daemon (cleanup): the job task's compute cost in USD at the size, architecture and capacity it
   * actually ran with (Spot → on-demand fallback included), once per job (None; service `manager`). */
  jobTaskCostUsd: "JobTaskCostUsd",
  /** scale-up: a pending job's task started speculatively from its recorded recipe (Count). */
  speculativeJobTaskStarted: "SpeculativeJobTaskStarted",
  /** scale-up: a speculative start that had a recipe but failed (the job still starts the usual way) (Count). */
  speculativeJobTaskStartFailed: "SpeculativeJobTaskStartFailed",
  /** scale-up: what a speculative task costs if nobody adopts it (its adopt deadline at its size), USD (None). */
  speculativeJobTaskAtRiskCostUsd: "SpeculativeJobTaskAtRiskCostUsd",
  /** driver daemon (prepare): the driver adopted a waiting speculative task (Count; service `manager`). */
  speculativeJobTaskAdopted: "SpeculativeJobTaskAdopted",
  /** driver daemon (prepare): a speculative task did not fit the job and was stopped (Count; service `manager`). */
  speculativeJobTaskReplaced: "SpeculativeJobTaskReplaced",
  /** driver daemon (prepare): what a replaced speculative task cost, start → stop, USD (None; service `manager`). */
  speculativeJobTaskReplacedCostUsd: "SpeculativeJobTaskReplacedCostUsd",
} as const;
export type MetricName = (typeof METRICS)[keyof typeof METRICS];
