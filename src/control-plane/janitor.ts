/**
 * The janitor, run from the scheduler Lambda: the backstop for what the driver's own cleanup cannot do.
 * - Job tasks whose manager is gone (crashed, reclaimed, stopped) would otherwise run, and bill, forever; job
 *   tasks older than the runner's `maxJobSeconds` are stuck whatever their manager says. Both are stopped.
 * - Job task definitions whose `sgr:last-used` day is older than `taskDefinitionRetentionDays` are deregistered,
 *   then deleted (DeleteTaskDefinitions takes at most 10 per call and only INACTIVE revisions).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import {
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTagsForResourceCommand,
  ListTaskDefinitionFamiliesCommand,
  ListTasksCommand,
  StopTaskCommand,
  type Task,
} from "@aws-sdk/client-ecs";
import type { Config } from "../config/schema.js";
import { JOB_TASK_TAGS } from "../driver/backends/fargate/backend.js";
import { jobFamilyPrefix, TAG_LAST_USED, TAG_MANAGED } from "../driver/backends/fargate/layout.js";
import { listFamilyRevisions } from "../driver/backends/fargate/task-definitions.js";
import { batches, type EcsApi, errorMessage, isThrottling, taskIdOf, withBackoff } from "../fargate/ecs.js";

export interface JanitorClients {
  ecs: EcsApi;
  logger?: Pick<Logger, "info" | "warn">;
}

export interface JanitorSettings {
  config: Pick<Config, "runners" | "taskDefinitionRetentionDays">;
  /** Cluster (name or ARN) of managers and job tasks. */
  cluster: string;
  /** The deployment's job family scope (`resources.jobFamilyScope`): only its own families are retired. */
  familyScope?: string;
  /** Skip the task-definition sweep (it lists every definition; the caller may run it less often than each tick). */
  skipTaskDefinitions?: boolean;
  /** Retry pacing for throttled ECS calls (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

export interface JanitorReport {
  stoppedTasks: { taskArn: string; reason: string }[];
  deregistered: string[];
  deleted: string[];
  /** Calls that failed; the next run tries again. */
  errors: string[];
}

const DAY_MS = 24 * 3600 * 1000;

/** Every job and manager lives in this cluster; the janitor never touches a task without our job tags. */
export async function runJanitor(
  clients: JanitorClients,
  settings: JanitorSettings,
  now: Date,
): Promise<JanitorReport> {
  const report: JanitorReport = { stoppedTasks: [], deregistered: [], deleted: [], errors: [] };
  await stopOrphanedJobTasks(clients, settings, now, report);
  if (!settings.skipTaskDefinitions) await retireUnusedTaskDefinitions(clients, settings, now, report);
  clients.logger?.info("janitor finished", {
    stoppedTasks: report.stoppedTasks.length,
    deregistered: report.deregistered.length,
    deleted: report.deleted.length,
    errors: report.errors.length,
  });
  return report;
}

function call<T>(operation: () => Promise<T>, settings: JanitorSettings): Promise<T> {
  return withBackoff(operation, {
    attempts: 5,
    baseDelayMs: 500,
    maxDelayMs: 8000,
    isRetryable: isThrottling,
    sleep: settings.sleep,
  });
}

function tagOf(task: Task, key: string): string | undefined {
  return task.tags?.find((t) => t.key === key)?.value;
}

/** ECS task ids: 32 hex digits (moto: a UUID). Anything else (a hostname) is no task id we could look up. */
const TASK_ID = /^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function isAlive(task: Task | undefined): boolean {
  return task !== undefined && task.desiredStatus === "RUNNING" && task.lastStatus !== "STOPPED";
}

async function describe(ecs: EcsApi, settings: JanitorSettings, ids: readonly string[]): Promise<Task[]> {
  const out: Task[] = [];
  for (const batch of batches(ids, 100)) {
    const page = await call(
      () =>
        ecs.send(new DescribeTasksCommand({ cluster: settings.cluster, tasks: batch, include: ["TAGS"] })),
      settings,
    );
    out.push(...(page.tasks ?? []));
  }
  return out;
}

/** The reason to stop a job task, or undefined to leave it. */
function whyStop(task: Task, managerAlive: boolean, maxJobSeconds: number, now: Date): string | undefined {
  const manager = tagOf(task, JOB_TASK_TAGS.managerTask);
  if (!managerAlive) return `serverless-gitlab-runner janitor: its manager task ${manager} is gone`;
  const born = task.createdAt ?? task.startedAt;
  if (born && now.getTime() - born.getTime() > maxJobSeconds * 1000) {
    return `serverless-gitlab-runner janitor: the job ran longer than maxJobSeconds (${maxJobSeconds} s)`;
  }
  return undefined;
}

export async function stopOrphanedJobTasks(
  clients: JanitorClients,
  settings: JanitorSettings,
  now: Date,
  report: JanitorReport,
): Promise<void> {
  const { ecs } = clients;
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call(
      () =>
        ecs.send(new ListTasksCommand({ cluster: settings.cluster, desiredStatus: "RUNNING", nextToken })),
      settings,
    );
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const tasks = await describe(ecs, settings, arns);
  const byId = new Map(tasks.map((t) => [taskIdOf(t.taskArn ?? ""), t]));
  const jobTasks = tasks.filter((t) => tagOf(t, JOB_TASK_TAGS.managerTask) !== undefined && isAlive(t));

  // A manager missing from the listing may be on a later page of an eventually consistent list: ask for it by id.
  const unseen = [...new Set(jobTasks.map((t) => tagOf(t, JOB_TASK_TAGS.managerTask)!))].filter(
    (id) => !byId.has(id) && TASK_ID.test(id),
  );
  for (const manager of await describe(ecs, settings, unseen))
    byId.set(taskIdOf(manager.taskArn ?? ""), manager);

  const maxByRunner = new Map(settings.config.runners.map((r) => [r.name, r.jobs.maxJobSeconds]));
  const fallbackMax = Math.max(...settings.config.runners.map((r) => r.jobs.maxJobSeconds));
  for (const task of jobTasks) {
    const managerId = tagOf(task, JOB_TASK_TAGS.managerTask)!;
    const maxJobSeconds = maxByRunner.get(tagOf(task, JOB_TASK_TAGS.runner) ?? "") ?? fallbackMax;
    // A manager id that is no ECS task id cannot be checked: never call such a manager gone; the age limit still applies.
    const checkable = TASK_ID.test(managerId);
    if (!checkable) {
      clients.logger?.warn("job task's manager id is not an ECS task id", {
        taskArn: task.taskArn,
        managerId,
      });
    }
    const reason = whyStop(task, !checkable || isAlive(byId.get(managerId)), maxJobSeconds, now);
    if (!reason || !task.taskArn) continue;
    try {
      await call(
        () => ecs.send(new StopTaskCommand({ cluster: settings.cluster, task: task.taskArn, reason })),
        settings,
      );
      report.stoppedTasks.push({ taskArn: task.taskArn, reason });
      clients.logger?.info("janitor stopped a job task", { taskArn: task.taskArn, reason });
    } catch (err) {
      report.errors.push(`StopTask ${task.taskArn}: ${errorMessage(err)}`);
    }
  }
}

/** True once the whole `lastUsedDay` (UTC) lies more than `retentionDays` in the past. */
export function isPastRetention(lastUsedDay: string, retentionDays: number, now: Date): boolean {
  const dayStart = Date.parse(`${lastUsedDay}T00:00:00Z`);
  if (Number.isNaN(dayStart)) return false;
  return now.getTime() - (dayStart + DAY_MS) >= retentionDays * DAY_MS;
}

async function listJobFamilies(ecs: EcsApi, settings: JanitorSettings): Promise<string[]> {
  const prefix = jobFamilyPrefix(settings.familyScope);
  const families: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call(
      () =>
        ecs.send(
          new ListTaskDefinitionFamiliesCommand({
            familyPrefix: prefix,
            status: "ALL",
            nextToken,
          }),
        ),
      settings,
    );
    families.push(...(page.families ?? []).filter((f) => f.startsWith(prefix)));
    nextToken = page.nextToken;
  } while (nextToken);
  return families;
}

export async function retireUnusedTaskDefinitions(
  clients: JanitorClients,
  settings: JanitorSettings,
  now: Date,
  report: JanitorReport,
): Promise<void> {
  const { ecs } = clients;
  const retentionDays = settings.config.taskDefinitionRetentionDays;
  const toDelete: string[] = [];
  for (const family of await listJobFamilies(ecs, settings)) {
    for (const { arn } of await call(() => listFamilyRevisions(ecs, family, "ACTIVE"), settings)) {
      try {
        const { tags } = await call(
          () => ecs.send(new ListTagsForResourceCommand({ resourceArn: arn })),
          settings,
        );
        const managed = tags?.some((t) => t.key === TAG_MANAGED && t.value === "true");
        const lastUsed = tags?.find((t) => t.key === TAG_LAST_USED)?.value;
        // Never guess about a definition that is not provably ours and provably old.
        if (!managed || !lastUsed || !isPastRetention(lastUsed, retentionDays, now)) continue;
        await call(() => ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn })), settings);
        report.deregistered.push(arn);
      } catch (err) {
        report.errors.push(`retire ${arn}: ${errorMessage(err)}`);
      }
    }
    // Every INACTIVE revision of an sgr-job family was deregistered by us (now or by a run whose delete failed).
    for (const { arn } of await call(() => listFamilyRevisions(ecs, family, "INACTIVE"), settings))
      toDelete.push(arn);
  }
  for (const batch of batches(toDelete, 10)) {
    try {
      const result = await call(
        () => ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: batch })),
        settings,
      );
      report.deleted.push(
        ...(result.taskDefinitions ?? []).map((d) => d.taskDefinitionArn ?? "").filter(Boolean),
      );
      for (const failure of result.failures ?? [])
        report.errors.push(`delete ${failure.arn}: ${failure.reason}`);
    } catch (err) {
      report.errors.push(`DeleteTaskDefinitions (${batch.length}): ${errorMessage(err)}`);
    }
  }
  if (report.deregistered.length > 0 || report.deleted.length > 0) {
    clients.logger?.info("janitor retired job task definitions", {
      deregistered: report.deregistered.length,
      deleted: report.deleted.length,
    });
  }
}
