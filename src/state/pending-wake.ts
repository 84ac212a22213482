/**
 * Jobs pending for a runner configuration whose manager already runs (`RUNNER#<name>`/`WAKE`): scale-up adds each
 * pending job it handles, the running manager reads the set every few hundred milliseconds and wakes its idle
 * gitlab-runner, then forgets what it read. A set makes a retried event a no-op; the item's TTL clears jobs no manager
 * ever read (none ran).
 */
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { expiresAtFor, runnerPk, type StateStore, TTL_ATTRIBUTE, WAKE_SK } from "./table.js";

/** Longer than any wake takes; only bounds how long an unread set stays in the table. */
export const PENDING_WAKE_TTL_MS = 3600_000;

const keyOf = (runnerName: string) => ({ pk: runnerPk(runnerName), sk: WAKE_SK });

/** The set's member for a job (`<project>#<job>`). */
export const pendingJobKey = (projectId: number, jobId: number) => `${projectId}#${jobId}`;

/** Adds a pending job to the runner configuration's set (idempotent). */
export async function recordPendingJob(
  store: StateStore,
  runnerName: string,
  job: { projectId: number; jobId: number },
  nowMs: number,
): Promise<void> {
  await store.db.send(
    new UpdateCommand({
      TableName: store.tableName,
      Key: keyOf(runnerName),
      UpdateExpression: "ADD jobs :job SET updatedAt = :now, #ttl = :ttl",
      ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
      ExpressionAttributeValues: {
        ":job": new Set([pendingJobKey(job.projectId, job.jobId)]),
        ":now": nowMs,
        ":ttl": expiresAtFor(nowMs, PENDING_WAKE_TTL_MS),
      },
    }),
  );
}

/** The jobs recorded and not yet forgotten. An eventually consistent read: cheap, and a wake can wait one more poll. */
export async function readPendingJobs(store: StateStore, runnerName: string): Promise<string[]> {
  const out = await store.db.send(
    new GetCommand({ TableName: store.tableName, Key: keyOf(runnerName), ProjectionExpression: "jobs" }),
  );
  const jobs = (out.Item as { jobs?: Set<string> } | undefined)?.jobs;
  return jobs ? [...jobs] : [];
}

/** Removes jobs the manager has seen; jobs added meanwhile stay. */
export async function forgetPendingJobs(
  store: StateStore,
  runnerName: string,
  jobs: string[],
): Promise<void> {
  if (jobs.length === 0) return;
  await store.db.send(
    new UpdateCommand({
      TableName: store.tableName,
      Key: keyOf(runnerName),
      UpdateExpression: "DELETE jobs :jobs",
      ExpressionAttributeValues: { ":jobs": new Set(jobs) },
    }),
  );
}
