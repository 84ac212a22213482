/**
 * What a job's task was started with, per (runner configuration, project, job name), for the speculative start of
 * the next job of that name (src/fargate/speculative-task.ts), and the claim that makes a job's speculative start
 * happen once however many events announce the job (a Job Hook and a Pipeline Hook each do). Both expire (TTL).
 */
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import {
  DAY_MS,
  expiresAtFor,
  isConditionalFailure,
  jobShapePk,
  jobShapeSk,
  type StateStore,
  speculativeClaimKey,
} from "./table.js";

/** Which job's recipe: the runner configuration that ran it, its project and its name. */
export interface JobShapeKey {
  runnerName: string;
  projectId: number;
  jobName: string;
}

const key = (shape: JobShapeKey) => ({
  pk: jobShapePk(shape.runnerName),
  sk: jobShapeSk(shape.projectId, shape.jobName),
});

/**
 * A recipe as stored: what a job's task was started with (src/fargate/speculative-task.ts `JobTaskRecipe`, which
 * also checks one read back). Opaque here, so the state table's layout does not depend on how tasks are started.
 */
export type StoredRecipe = object;

/** Records (replaces) the recipe the job of this name ran with; it expires `ttlMs` after its last run. */
export async function recordJobRecipe(
  store: StateStore,
  shape: JobShapeKey,
  recipe: StoredRecipe,
  nowMs: number,
  ttlMs: number,
): Promise<void> {
  await store.db.send(
    new PutCommand({
      TableName: store.tableName,
      Item: { ...key(shape), recipe, recordedAt: nowMs, ttl: expiresAtFor(nowMs, ttlMs) },
    }),
  );
}

/** The recipe last recorded for this job name, or undefined (none, or expired). */
export async function readJobRecipe(store: StateStore, shape: JobShapeKey, nowMs: number): Promise<unknown> {
  const out = await store.db.send(new GetCommand({ TableName: store.tableName, Key: key(shape) }));
  const item = out.Item as { recipe?: unknown; ttl?: number } | undefined;
  // DynamoDB deletes expired items within days, not at once: an expired one is no recipe.
  if (item?.ttl !== undefined && item.ttl * 1000 < nowMs) return undefined;
  return item?.recipe;
}

/** A claim outlives any adopt deadline; it only has to stop repeats of the same job's events. */
const CLAIM_TTL_MS = DAY_MS;

/**
 * Claims the job's one speculative start. Scale-up: true for the one invocation that may start the task. The
 * driver (preparing the job): true when it came first, so no speculative task will start (and again for a retried
 * preparation); false when scale-up holds the claim, so a task is started or being started.
 */
export async function claimSpeculativeStart(
  store: StateStore,
  runnerName: string,
  jobId: number,
  nowMs: number,
  by: "scale-up" | "driver" = "scale-up",
): Promise<boolean> {
  try {
    await store.db.send(
      new PutCommand({
        TableName: store.tableName,
        Item: {
          ...speculativeClaimKey(runnerName, jobId),
          claimedBy: by,
          claimedAt: nowMs,
          ttl: expiresAtFor(nowMs, CLAIM_TTL_MS),
        },
        ConditionExpression:
          by === "driver" ? "attribute_not_exists(pk) OR claimedBy = :driver" : "attribute_not_exists(pk)",
        ExpressionAttributeValues: by === "driver" ? { ":driver": "driver" } : undefined,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionalFailure(err)) return false;
    throw err;
  }
}

/** Gives the claim back after a start that failed, so a retry of the event may try again. */
export async function releaseSpeculativeStart(
  store: StateStore,
  runnerName: string,
  jobId: number,
): Promise<void> {
  await store.db.send(
    new DeleteCommand({ TableName: store.tableName, Key: speculativeClaimKey(runnerName, jobId) }),
  );
}
