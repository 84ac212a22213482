/**
 * The janitor, run from the scheduler Lambda: the backstop for what the driver's own cleanup cannot do.
 * - Job tasks whose manager is gone (crashed, reclaimed, stopped) would otherwise run, and bill, forever; job
 *   tasks older than the runner's `maxJobSeconds` are stuck whatever their manager says. Both are stopped.
 * - Job task definitions whose `sgr:last-used` day is older than `taskDefinitionRetentionDays` are deregistered,
 *   then deleted (DeleteTaskDefinitions takes at most 10 per call and only INACTIVE revisions).
 *
 * Every distinct image makes a family, so there may be thousands. The sweep is bounded per run: it visits at most
 * `maxFamiliesPerRun` families in name order, after the family the previous run stopped at (a cursor kept in the
 * state table), and wraps to the start once it reaches the end. Its writes (deregister, delete) share ECS's
 * task-definition write quota with the managers' registrations, so they are paced (`writesPerSecond`), and a write
 * still throttled after its backoff, or one that would start past the run's time budget (`sweepBudgetMs`), ends
 * the run early; the cursor then points at the last family fully done.
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
import type { JanitorCursor } from "../state/janitor-cursor.js";

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
  /** Retry pacing for throttled ECS calls and the write pacing (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  /** Where the task-definition sweep resumes; without one every run starts at the first family. */
  cursor?: JanitorCursor;
  /** Families the sweep visits per run. @default 200 */
  maxFamiliesPerRun?: number;
  /** Task-definition writes (deregister, delete) per second at most. @default 1 */
  writesPerSecond?: number;
  /** Milliseconds since the epoch, for the write pacing and the time budget. @default Date.now */
  clock?: () => number;
  /** Time the sweep may take; it stops before a write that would start later, and resumes next run. @default 30000 */
  sweepBudgetMs?: number;
}

export const DEFAULT_MAX_FAMILIES_PER_RUN = 200;
export const DEFAULT_WRITES_PER_SECOND = 1;
/** Well inside the scheduler Lambda's timeout, after the period's other work. */
export const DEFAULT_SWEEP_BUDGET_MS = 30_000;

export interface JanitorReport {
  stoppedTasks: { taskArn: string; reason: string }[];
  deregistered: string[];
  deleted: string[];
  /** Task-definition families this run visited (absent when the sweep did not run). */
  familiesVisited?: number;
  /** Where the next sweep resumes (the last family done), or null when this one reached the end. */
  resumeAfter?: string | null;
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

/** A speculative task's agent exits at its deadline; the janitor stops one still running this much later. */
export const SPECULATIVE_GRACE_SECONDS = 300;

/** The reason to stop a speculative task nobody adopted (no manager tag yet), or undefined to leave it. */
function whyStopUnadopted(task: Task, now: Date): string | undefined {
  const deadline = Number(tagOf(task, JOB_TASK_TAGS.speculative));
  const born = task.createdAt ?? task.startedAt;
  if (!born || !Number.isFinite(deadline)) return undefined;
  if (now.getTime() - born.getTime() <= (deadline + SPECULATIVE_GRACE_SECONDS) * 1000) return undefined;
  return `serverless-gitlab-runner janitor: speculative job task not adopted within its deadline (${deadline} s)`;
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
  const unadopted = tasks.filter(
    (t) =>
      tagOf(t, JOB_TASK_TAGS.speculative) !== undefined && !tagOf(t, JOB_TASK_TAGS.managerTask) && isAlive(t),
  );

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
    if (reason) await stopJobTask(clients, settings, task, reason, report);
  }
  for (const task of unadopted) {
    const reason = whyStopUnadopted(task, now);
    if (reason) await stopJobTask(clients, settings, task, reason, report);
  }
}

async function stopJobTask(
  clients: JanitorClients,
  settings: JanitorSettings,
  task: Task,
  reason: string,
  report: JanitorReport,
): Promise<void> {
  const { ecs } = clients;
  if (!task.taskArn) return;
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

/** True once the whole `lastUsedDay` (UTC) lies more than `retentionDays` in the past. */
export function isPastRetention(lastUsedDay: string, retentionDays: number, now: Date): boolean {
  const dayStart = Date.parse(`${lastUsedDay}T00:00:00Z`);
  if (Number.isNaN(dayStart)) return false;
  return now.getTime() - (dayStart + DAY_MS) >= retentionDays * DAY_MS;
}

/** The families after `after`, in name order, at most `limit` of them; `more` says whether any are left. */
async function listJobFamilies(
  ecs: EcsApi,
  settings: JanitorSettings,
  after: string | undefined,
  limit: number,
): Promise<{ families: string[]; more: boolean }> {
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
            maxResults: 100,
            nextToken,
          }),
        ),
      settings,
    );
    for (const family of page.families ?? []) {
      if (!family.startsWith(prefix) || (after !== undefined && family <= after)) continue;
      families.push(family);
    }
    nextToken = page.nextToken;
    // Listing stops as soon as it has one more than the run takes: that one only says "more to come".
  } while (nextToken && families.length <= limit);
  families.sort();
  return { families: families.slice(0, limit), more: families.length > limit || nextToken !== undefined };
}

/**
 * Spaces task-definition writes at least 1/writesPerSecond apart, within the sweep's time budget: a write whose
 * slot falls after the budget is not made (OutOfBudget), and the next run resumes there.
 */
function writePacer(settings: JanitorSettings): () => Promise<void> {
  const gapMs = 1000 / (settings.writesPerSecond ?? DEFAULT_WRITES_PER_SECOND);
  const clock = settings.clock ?? Date.now;
  const deadline = clock() + (settings.sweepBudgetMs ?? DEFAULT_SWEEP_BUDGET_MS);
  const pause = settings.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    const wait = Math.max(last + gapMs - clock(), 0);
    if (clock() + wait > deadline) throw new OutOfBudget();
    if (wait > 0) await pause(wait);
    last = clock();
  };
}

/** Ends a run early, the cursor keeping its place: a write ECS still throttles after the backoff, or no time left. */
class StopSweep extends Error {}
class StillThrottled extends StopSweep {}
class OutOfBudget extends StopSweep {}

export async function retireUnusedTaskDefinitions(
  clients: JanitorClients,
  settings: JanitorSettings,
  now: Date,
  report: JanitorReport,
): Promise<void> {
  const { ecs } = clients;
  const retentionDays = settings.config.taskDefinitionRetentionDays;
  const limit = settings.maxFamiliesPerRun ?? DEFAULT_MAX_FAMILIES_PER_RUN;
  const after = await settings.cursor?.load();
  const { families, more } = await listJobFamilies(ecs, settings, after, limit);
  const paced = writePacer(settings);
  const write = async <T>(operation: () => Promise<T>): Promise<T> => {
    await paced();
    try {
      return await call(operation, settings);
    } catch (err) {
      if (isThrottling(err)) throw new StillThrottled(errorMessage(err));
      throw err;
    }
  };
  // INACTIVE revisions wait here to be deleted 10 per call across families; a family counts as done (cursor)
  // once none of its revisions waits.
  const pending: { family: string; arn: string }[] = [];
  const context: RetireContext = { retentionDays, now, write };
  let done: string | undefined = after;
  let finished = true;
  const visited: string[] = [];
  const settle = () => {
    const waiting = new Set(pending.map((p) => p.family));
    for (const family of visited) {
      if (waiting.has(family)) break;
      done = family;
    }
  };
  try {
    for (const family of families) {
      const inactive = await retireFamily(ecs, settings, family, context, report);
      pending.push(...inactive.map((arn) => ({ family, arn })));
      visited.push(family);
      report.familiesVisited = (report.familiesVisited ?? 0) + 1;
      while (pending.length >= 10) await deleteInactive(ecs, pending.splice(0, 10), context, report);
      settle();
    }
    if (pending.length > 0) await deleteInactive(ecs, pending.splice(0), context, report);
    settle();
  } catch (err) {
    if (!(err instanceof StopSweep)) throw err;
    finished = false;
    if (err instanceof StillThrottled)
      report.errors.push(
        `task-definition writes throttled; resuming after ${done ?? "the first family"} next run`,
      );
  }
  report.familiesVisited ??= 0;
  // The end reached: the next run starts over, so definitions that aged meanwhile are found again.
  const resumeAfter = finished && !more ? undefined : done;
  report.resumeAfter = resumeAfter ?? null;
  await settings.cursor?.save(resumeAfter);
  if (report.deregistered.length > 0 || report.deleted.length > 0) {
    clients.logger?.info("janitor retired job task definitions", {
      deregistered: report.deregistered.length,
      deleted: report.deleted.length,
      familiesVisited: report.familiesVisited,
      resumeAfter: report.resumeAfter,
    });
  }
}

interface RetireContext {
  retentionDays: number;
  now: Date;
  write: <T>(operation: () => Promise<T>) => Promise<T>;
}

/**
 * Deregisters a family's stale revisions and answers its INACTIVE ones to delete (every INACTIVE revision of an
 * sgr-job family was deregistered by us, now or by a run whose delete failed).
 */
async function retireFamily(
  ecs: EcsApi,
  settings: JanitorSettings,
  family: string,
  context: RetireContext,
  report: JanitorReport,
): Promise<string[]> {
  for (const { arn } of await call(() => listFamilyRevisions(ecs, family, "ACTIVE"), settings)) {
    try {
      const { tags } = await call(
        () => ecs.send(new ListTagsForResourceCommand({ resourceArn: arn })),
        settings,
      );
      const managed = tags?.some((t) => t.key === TAG_MANAGED && t.value === "true");
      const lastUsed = tags?.find((t) => t.key === TAG_LAST_USED)?.value;
      // Never guess about a definition that is not provably ours and provably old.
      if (!managed || !lastUsed || !isPastRetention(lastUsed, context.retentionDays, context.now)) continue;
      await context.write(() => ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn })));
      report.deregistered.push(arn);
    } catch (err) {
      if (err instanceof StopSweep) throw err;
      report.errors.push(`retire ${arn}: ${errorMessage(err)}`);
    }
  }
  return (await call(() => listFamilyRevisions(ecs, family, "INACTIVE"), settings)).map((r) => r.arn);
}

/** One DeleteTaskDefinitions call (at most 10 revisions); failures are reported, throttling ends the run. */
async function deleteInactive(
  ecs: EcsApi,
  batch: { arn: string }[],
  context: RetireContext,
  report: JanitorReport,
): Promise<void> {
  const taskDefinitions = batch.map((b) => b.arn);
  try {
    const result = await context.write(() => ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions })));
    report.deleted.push(
      ...(result.taskDefinitions ?? []).map((d) => d.taskDefinitionArn ?? "").filter(Boolean),
    );
    for (const failure of result.failures ?? [])
      report.errors.push(`delete ${failure.arn}: ${failure.reason}`);
  } catch (err) {
    if (err instanceof StopSweep) throw err;
    report.errors.push(`DeleteTaskDefinitions (${taskDefinitions.length}): ${errorMessage(err)}`);
  }
}
