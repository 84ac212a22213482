/**
 * Records the size a job's task really got on the job's record in the state table (`JOB#<project>#<job>`/`JOB`),
 * so `sgr status` prices jobs at their actual size rather than the runner's default. Only SETs the task*
 * attributes — never a status field — and only on a record that exists: the job-status function creates and
 * orders the record with conditional updates (`attribute_not_exists(pk) OR statusRank < :rank`), and a record we
 * created without `statusRank` would make every later status update fail.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { INCLUDED_STORAGE_GIB, type PricedTask } from "../observability/cost.js";
import type { JobTaskSizeAttributes } from "../observability/cost-per-job.js";
import { isConditionalFailure, JOB_SK, jobPk, type StateDb } from "./table.js";

/** Which job of which manager: the driver's name for a job. */
export interface JobIdentity {
  runnerName: string;
  projectId: string;
  jobId: string;
  /** Task id of the manager that started it: the janitor stops tasks whose manager is gone. */
  managerTaskId: string;
}

/** Whether the record got the size: false when there is no job record (yet) or the ids are not GitLab's. */
export async function recordJobTaskSize(
  db: StateDb,
  tableName: string,
  identity: JobIdentity,
  task: PricedTask,
): Promise<boolean> {
  const projectId = Number(identity.projectId);
  const jobId = Number(identity.jobId);
  if (!Number.isSafeInteger(projectId) || !Number.isSafeInteger(jobId)) return false;
  const values: JobTaskSizeAttributes = {
    taskCpu: task.cpu,
    taskMemoryMiB: task.memoryMiB,
    taskEphemeralStorageGiB: task.ephemeralStorageGiB ?? INCLUDED_STORAGE_GIB,
    taskArchitecture: task.architecture,
    taskCapacity: task.capacity,
    // Only a GPU job's record says so: every other record stays as it was.
    ...(task.gpus ? { taskGpus: task.gpus } : {}),
  };
  try {
    await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: jobPk(projectId, jobId), sk: JOB_SK },
        UpdateExpression: `SET ${Object.keys(values)
          .map((name) => `${name} = :${name}`)
          .join(", ")}`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: Object.fromEntries(
          Object.entries(values).map(([name, value]) => [`:${name}`, value]),
        ),
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalFailure(error)) return false;
    throw error;
  }
}
