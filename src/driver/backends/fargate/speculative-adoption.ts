/**
 * The driver's side of a speculative start (src/fargate/speculative-task.ts): finds the task scale-up started for
 * this job, adopts it when it runs exactly the recipe the job needs (the task is tagged with this manager, so the
 * janitor and the drain see it as this manager's job task), and stops it, with the reason, when it does not.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { DescribeTasksCommand, ListTasksCommand, TagResourceCommand, type Task } from "@aws-sdk/client-ecs";
import type { Architecture, JobCapacity } from "../../../config/schema.js";
import type { ChannelSecretStore } from "../../../fargate/channel-secrets.js";
import { type EcsApi, errorMessage } from "../../../fargate/ecs.js";
import { JOB_TASK_TAGS, tagValue } from "../../../fargate/job-task-names.js";
import {
  type JobTaskRecipe,
  recipeMismatch,
  secretFileArnOf,
  speculativeStartedBy,
} from "../../../fargate/speculative-task.js";
import type { PricedTask } from "../../../observability/cost.js";
import type { JobIdentity } from "../../backend.js";
import { taskStateOf } from "./task-state.js";

/** A waiting task the job may adopt, with its agent's secret. */
export interface Adoptable {
  task: Task;
  secret: string;
  secretFileArn: string;
  capacity: JobCapacity;
}

export interface AdoptionDeps {
  ecs: EcsApi;
  cluster: string;
  secrets: ChannelSecretStore;
  stopTask(taskArn: string, reason: string): Promise<void>;
  logger?: Pick<Logger, "info">;
  /**
   * Claims the job's one speculative start (src/state/job-shapes.ts): true when the driver got it first, so none
   * will ever start and there is nothing to look for; false when scale-up holds it. Absent: always look.
   */
  claimStart?(runnerName: string, jobId: string): Promise<boolean>;
  /** How long to wait for a task scale-up has claimed but not started yet (its RunTask in flight). @default 3000 */
  claimedWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const CLAIMED_POLL_MS = 500;

/**
 * The job's waiting tasks. When scale-up holds the claim, its RunTask may still be in flight: look again a few
 * times before deciding there is none. When the driver takes the claim first, scale-up will start none.
 */
async function claimedWaitingTasks(deps: AdoptionDeps, identity: JobIdentity): Promise<Task[]> {
  if (deps.claimStart && (await deps.claimStart(identity.runnerName, identity.jobId))) return [];
  const wait = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (deps.claimStart ? (deps.claimedWaitMs ?? 3000) : 0);
  for (;;) {
    const tasks = await waitingTasks(deps, identity);
    if (tasks.length > 0 || Date.now() >= deadline) return tasks;
    await wait(CLAIMED_POLL_MS);
  }
}

/** Not-yet-stopped speculative tasks of this job (normally none or one). */
async function waitingTasks(deps: AdoptionDeps, identity: JobIdentity): Promise<Task[]> {
  const listed = await deps.ecs.send(
    new ListTasksCommand({
      cluster: deps.cluster,
      startedBy: speculativeStartedBy(identity.runnerName, identity.jobId),
      desiredStatus: "RUNNING",
    }),
  );
  const arns = listed.taskArns ?? [];
  if (arns.length === 0) return [];
  const described = await deps.ecs.send(
    new DescribeTasksCommand({ cluster: deps.cluster, tasks: arns.slice(0, 100), include: ["TAGS"] }),
  );
  return (described.tasks ?? []).filter(
    (t) =>
      taskStateOf(t).state !== "stopped" &&
      t.tags?.some((tag) => tag.key === JOB_TASK_TAGS.jobId && tag.value === identity.jobId),
  );
}

/** The size and placement a task was started with, for pricing it. */
function pricedTaskOf(task: Task): PricedTask {
  const architecture = task.attributes?.find((a) => a.name === "ecs.cpu-architecture")?.value;
  return {
    cpu: Number(task.overrides?.cpu ?? task.cpu ?? 0),
    memoryMiB: Number(task.overrides?.memory ?? task.memory ?? 0),
    ephemeralStorageGiB: task.overrides?.ephemeralStorage?.sizeInGiB,
    architecture: (architecture === "arm64" ? "arm64" : "x86_64") as Architecture,
    capacity: task.capacityProviderName === "FARGATE_SPOT" ? "FARGATE_SPOT" : "FARGATE",
  };
}

/** When Fargate began to bill the task (its image pull), else when it was created. */
export function billedFromMs(task: Task): number | undefined {
  return (task.pullStartedAt ?? task.createdAt)?.getTime();
}

/**
 * The waiting speculative task this job adopts, or undefined. Every waiting task that does not fit (`wanted` is
 * undefined when the job is not one a recipe can start) is stopped, and `onReplaced` told about it.
 */
export async function adoptSpeculativeTask(
  deps: AdoptionDeps,
  identity: JobIdentity,
  wanted: JobTaskRecipe | undefined,
  onReplaced: (task: Task, reason: string, priced: PricedTask, seconds: number) => void,
): Promise<Adoptable | undefined> {
  let adopted: Adoptable | undefined;
  for (const task of await claimedWaitingTasks(deps, identity)) {
    const secretFileArn = secretFileArnOf(task);
    let why = wanted
      ? recipeMismatch(task, wanted)
      : "the job's services carry variables or it needs Managed Instances";
    if (!why && !secretFileArn) why = "it names no secret file";
    if (!why && adopted) why = "another speculative task of the job was adopted";
    let secret: string | undefined;
    if (!why && secretFileArn) {
      secret = await deps.secrets.read(secretFileArn).catch((err: unknown) => {
        why = `its secret file is not readable (${errorMessage(err)})`;
        return undefined;
      });
    }
    if (why || !secret || !secretFileArn) {
      const reason = `sgr: speculative job task not adopted: ${why}`;
      await deps.stopTask(task.taskArn!, reason);
      const from = billedFromMs(task);
      onReplaced(task, reason, pricedTaskOf(task), from ? Math.max(0, Date.now() - from) / 1000 : 0);
      if (secretFileArn) await deps.secrets.remove(secretFileArn).catch(() => undefined);
      continue;
    }
    // From now on the task is this manager's job task: the janitor stops it with its manager, the drain waits for it.
    await deps.ecs.send(
      new TagResourceCommand({
        resourceArn: task.taskArn,
        tags: [{ key: JOB_TASK_TAGS.managerTask, value: tagValue(identity.managerTaskId) }],
      }),
    );
    deps.logger?.info("adopting the speculative job task", { taskArn: task.taskArn, jobId: identity.jobId });
    adopted = {
      task,
      secret,
      secretFileArn,
      capacity: task.capacityProviderName === "FARGATE" ? "FARGATE" : "FARGATE_SPOT",
    };
  }
  return adopted;
}
