/**
 * Names a job task is known by, shared by the driver (which starts and adopts job tasks), scale-up (which starts
 * speculative ones) and the janitor (which stops stragglers): container, environment and tag names, startedBy.
 */

/** The job task's container that runs our agent. */
export const HELPER_CONTAINER = "helper";

/** Environment the helper container's agent receives through the RunTask override (never a task definition). */
export const AGENT_ENV = {
  secret: "SGR_AGENT_SECRET",
  runnerName: "SGR_RUNNER_NAME",
  projectId: "SGR_PROJECT_ID",
  jobId: "SGR_JOB_ID",
  managerTaskId: "SGR_MANAGER_TASK_ID",
  /** A speculative task's agent exits when no driver has connected within this many seconds. */
  adoptDeadlineSeconds: "SGR_ADOPT_DEADLINE_SECONDS",
} as const;

/** Tags on every job task: the scheduler and janitor find a manager's jobs by them. */
export const JOB_TASK_TAGS = {
  runner: "sgr:runner",
  managerTask: "sgr:manager-task",
  projectId: "sgr:project-id",
  jobId: "sgr:job-id",
  /** On a task scale-up started speculatively: its adopt deadline (seconds). Adoption adds `managerTask`. */
  speculative: "sgr:speculative",
} as const;

/** `startedBy` allows up to 128 letters, digits, `-`, `/` and `_`. */
export function startedByFor(value: string): string {
  return value.replace(/[^A-Za-z0-9_/-]/g, "-").slice(0, 128);
}

/** Tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters. */
export function tagValue(value: string): string {
  return value.replace(/[^\p{L}\p{N} _.:/=+\-@]/gu, "_").slice(0, 256);
}
