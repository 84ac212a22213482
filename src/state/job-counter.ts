/**
 * Records job starts and ends on the manager's record in the state table (docs/architecture.md): prepare does
 * `SET lastJobStartedAt = now ADD runningJobIds :id`, cleanup `DELETE runningJobIds :id`. A set of job ids, not a
 * count: gitlab-runner retries preparation and cleanup may run twice, and adding or deleting an id twice changes
 * nothing, where a counter drifts and keeps the manager "busy" for ever. The scheduler's idle check reads these, so
 * a manager with a running job is never drained for idleness. Conditional on the record existing, so a driver
 * outside a managed task (development) never creates stray items.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { PricedTask } from "../observability/cost.js";
import { type JobIdentity, recordJobTaskSize } from "./job-task-size.js";
import { managerSk, runnerPk, type StateDb } from "./table.js";

export interface JobCounter {
  started(identity: JobIdentity): Promise<void>;
  finished(identity: JobIdentity): Promise<void>;
  /** Records the size the job's task really got on the job's record (job-task-size.ts). */
  taskSized?(identity: JobIdentity, task: PricedTask): Promise<void>;
}

export function stateTableJobCounter(
  db: StateDb,
  tableName: string,
  now: () => number = Date.now,
): JobCounter {
  const key = (identity: JobIdentity) => ({
    pk: runnerPk(identity.runnerName),
    sk: managerSk(identity.managerTaskId),
  });
  return {
    started: async (identity) => {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(identity),
          UpdateExpression: "SET lastJobStartedAt = :now ADD runningJobIds :job",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":now": now(), ":job": new Set([identity.jobId]) },
        }),
      );
    },
    finished: async (identity) => {
      await db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(identity),
          UpdateExpression: "DELETE runningJobIds :job",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":job": new Set([identity.jobId]) },
        }),
      );
    },
    taskSized: async (identity, task) => {
      await recordJobTaskSize(db, tableName, identity, task);
    },
  };
}
