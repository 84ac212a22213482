/**
 * ECS side of managers: start one (Spot with on-demand fallback), see whether it still runs, see whether
 * it has job tasks, stop it. The runner token reaches the container through the task definition's
 * `secrets` (set by the CDK app), so RunTask carries no overrides at all.
 */
import {
  DescribeTasksCommand,
  ListTasksCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import type { Capacity } from "../config/index.js";
import type { EcsApi } from "../fargate/ecs.js";
import {
  CapacityUnavailableError,
  RunTaskFailedError,
  runOneTask,
  withSpotFallback,
} from "../fargate/run-task.js";

/** startedBy of manager tasks: how the scheduler and people tell them from job tasks. */
export const managerStartedBy = (runnerName: string) => `sgr-manager/${runnerName}`;

export interface ManagerLaunch {
  cluster: string;
  taskDefinition: string;
  runnerName: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  capacity: Capacity;
  /** Idempotency token: ECS starts one task for retries of the same call (the slot owner token). */
  clientToken: string;
}

export interface StartedManager {
  taskArn: string;
  /** Where it actually runs: FARGATE when Spot had no capacity. */
  capacity: Capacity;
  spotFallback: boolean;
}

/** RunTask answered without a task for a reason that is not a lack of capacity, or with no task at all. */
export class ManagerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManagerStartError";
  }
}

function managerRunTask(launch: ManagerLaunch, capacity: Capacity): RunTaskCommandInput {
  return {
    cluster: launch.cluster,
    taskDefinition: launch.taskDefinition,
    count: 1,
    startedBy: managerStartedBy(launch.runnerName),
    capacityProviderStrategy: [{ capacityProvider: capacity, weight: 1 }],
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: launch.subnets,
        securityGroups: launch.securityGroups,
        assignPublicIp: launch.assignPublicIp ? "ENABLED" : "DISABLED",
      },
    },
    // Distinct per capacity: the on-demand retry after a Spot failure is a different request.
    clientToken: `${launch.clientToken}-${capacity}`.slice(0, 64),
    tags: [
      { key: "sgr:runner", value: launch.runnerName },
      { key: "sgr:role", value: "manager" },
    ],
  };
}

async function runOnce(ecs: EcsApi, launch: ManagerLaunch, capacity: Capacity): Promise<string> {
  try {
    return (await runOneTask(ecs, managerRunTask(launch, capacity))).taskArn!;
  } catch (err) {
    if (!(err instanceof RunTaskFailedError)) throw err;
    throw new ManagerStartError(
      `RunTask started no manager task: ${err.reasons.join("; ") || "no task and no failure"}`,
    );
  }
}

/** Starts one manager task; a FARGATE_SPOT launch without capacity falls back to FARGATE. */
export async function startManagerTask(
  ecs: EcsApi,
  launch: ManagerLaunch,
  onSpotFallback?: (reason: string) => void,
): Promise<StartedManager> {
  try {
    const started = await withSpotFallback(
      launch.capacity,
      (capacity) => runOnce(ecs, launch, capacity),
      onSpotFallback,
    );
    return { taskArn: started.value, capacity: started.capacity, spotFallback: started.spotFallback };
  } catch (err) {
    if (!(err instanceof CapacityUnavailableError)) throw err;
    // With Spot, a capacity failure that reaches here is the on-demand fallback's.
    throw new ManagerStartError(
      launch.capacity === "FARGATE_SPOT"
        ? `neither Fargate Spot nor Fargate has capacity: ${err.message}`
        : `Fargate has no capacity for the manager: ${err.message}`,
    );
  }
}

export type TaskLiveness = "running" | "stopped" | "missing";

/** ECS view of tasks by ARN (at most 100 a call). A task ECS does not know is `missing`. */
export async function describeTaskLiveness(
  ecs: EcsApi,
  cluster: string,
  taskArns: readonly string[],
): Promise<Map<string, { liveness: TaskLiveness; stoppedReason?: string }>> {
  const result = new Map<string, { liveness: TaskLiveness; stoppedReason?: string }>();
  for (let i = 0; i < taskArns.length; i += 100) {
    const batch = taskArns.slice(i, i + 100);
    const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: batch }));
    for (const task of out.tasks ?? []) {
      if (!task.taskArn) continue;
      const stopped = task.lastStatus === "STOPPED" || task.lastStatus === "DEPROVISIONING";
      result.set(task.taskArn, {
        liveness: stopped ? "stopped" : "running",
        ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
      });
    }
    for (const arn of batch) if (!result.has(arn)) result.set(arn, { liveness: "missing" });
  }
  return result;
}

/** Whether the manager has job tasks that ECS still runs (the driver starts them with startedBy = manager task id). */
export async function hasRunningJobTasks(
  ecs: EcsApi,
  cluster: string,
  managerTaskId: string,
): Promise<boolean> {
  const out = await ecs.send(
    new ListTasksCommand({ cluster, startedBy: managerTaskId, desiredStatus: "RUNNING", maxResults: 1 }),
  );
  return (out.taskArns ?? []).length > 0;
}

/** Manager tasks of a runner configuration that ECS still wants running. */
export async function listManagerTasks(ecs: EcsApi, cluster: string, runnerName: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const out = await ecs.send(
      new ListTasksCommand({
        cluster,
        startedBy: managerStartedBy(runnerName),
        desiredStatus: "RUNNING",
        nextToken,
      }),
    );
    arns.push(...(out.taskArns ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return arns;
}

export async function stopManagerTask(
  ecs: EcsApi,
  cluster: string,
  taskArn: string,
  reason: string,
): Promise<void> {
  try {
    await ecs.send(new StopTaskCommand({ cluster, task: taskArn, reason: reason.slice(0, 255) }));
  } catch (err) {
    // Stopping a task that is already gone is the outcome we wanted.
    if ((err as { name?: string }).name === "InvalidParameterException") return;
    throw err;
  }
}
