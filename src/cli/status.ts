/**
 * `sgr status`: what runs now and what it costs, from the state table, ECS, SQS and (with a token) GitLab.
 * Gathering is separate from printing, so `--json` and the text view show the same facts.
 */
import { DescribeTasksCommand } from "@aws-sdk/client-ecs";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { Config, RunnerConfig } from "../config/index.js";
import { taskCost } from "../observability/cost.js";
import { type CostBasis, type JobTaskSizeAttributes, jobPricing } from "../observability/cost-per-job.js";
import {
  type JobItem,
  MANAGER_SK_PREFIX,
  type ManagerItem,
  runnerPk,
  runningJobIdsOf,
  SLOT_SK,
  type SlotItem,
} from "../state/table.js";
import type { AwsClients } from "./clients.js";
import type { Deployment } from "./deployment.js";
import { awsError } from "./exit-codes.js";
import type { GitLabApi, HookTarget } from "./gitlab-api.js";

export interface ManagerStatus {
  taskId: string;
  state: string;
  /** ECS lastStatus, or "MISSING" when ECS no longer knows the task. */
  ecsStatus: string;
  capacity: string;
  startedAt: string;
  /** Queue-to-start phase "manager running": RunTask → gitlab-runner up (the manager's runningSince), seconds. */
  startupSeconds: number | null;
  runningJobs: number;
}

export interface JobStatus {
  projectId: number;
  jobId: number;
  status: string;
  updatedAt: string;
  /** Our first sighting pending → running, in seconds (what the operator waits for). */
  queueToStartSeconds: number | null;
  durationSeconds: number | null;
  estimatedCostUsd: number | null;
  /** "actual": the size the driver recorded for the job's task; "default-size": the runner's default job size. */
  costBasis: CostBasis;
}

/** A job record as `status` reads it: with the task size the driver recorded, when it did. */
type PricedJobItem = JobItem & JobTaskSizeAttributes;

export interface WebhookHealth {
  state: "healthy" | "temporarily-disabled" | "disabled" | "missing" | "unknown";
  hookId?: number;
  alertStatus?: string;
  disabledUntil?: string | null;
  detail?: string;
}

export interface StatusReport {
  stackName: string;
  region: string;
  runners: { name: string; slot: string | null; managers: ManagerStatus[] }[];
  jobs: { pending: number; running: number; recent: JobStatus[] };
  webhook: WebhookHealth;
  deadLetterQueue: { url: string; messages: number } | null;
  costThisMonth: {
    usd: number;
    jobsUsd: number;
    managersUsd: number;
    priceRegion: string;
    since: string;
    basis: string;
  };
}

export interface StatusDeps {
  aws: Pick<AwsClients, "db" | "ecs" | "sqs" | "region">;
  gitlab: GitLabApi | undefined;
  nowMs: () => number;
}

const RECENT_JOBS = 10;

export async function collectStatus(
  deps: StatusDeps,
  config: Config,
  deployment: Deployment,
  target: HookTarget | undefined,
): Promise<StatusReport> {
  const { resources } = deployment;
  const now = deps.nowMs();
  const runnerItems = await Promise.all(
    config.runners.map((r) => queryRunner(deps, resources.stateTableName, r)),
  );
  const ecsStatus = await describeTasks(
    deps,
    resources.clusterArn,
    runnerItems.flatMap((r) => r.managers.filter((m) => m.state !== "STOPPED").map((m) => m.taskArn)),
  );
  const jobs = await scanJobs(deps, resources.stateTableName);
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  const pricing = config.runners[0] as RunnerConfig;

  const recent = [...jobs]
    .sort((a, b) => b.updatedAt - a.updatedAt)
    .slice(0, RECENT_JOBS)
    .map((job) => jobStatus(job, pricing, deps.aws.region, config.network.assignPublicIp));

  return {
    stackName: deployment.stackName,
    region: deps.aws.region,
    runners: runnerItems.map(({ runner, slot, managers }) => ({
      name: runner.name,
      slot: slot ? slot.state : null,
      managers: managers
        .filter((m) => m.state !== "STOPPED")
        .map((m) => ({
          taskId: m.taskId,
          state: m.state,
          ecsStatus: ecsStatus.get(m.taskArn) ?? "MISSING",
          capacity: m.capacity,
          startedAt: new Date(m.startedAt).toISOString(),
          startupSeconds: startupSeconds(m),
          runningJobs: runningJobIdsOf(m).length,
        })),
    })),
    jobs: {
      pending: jobs.filter((j) => j.status === "pending").length,
      running: jobs.filter((j) => j.status === "running").length,
      recent,
    },
    webhook: await webhookHealth(deps.gitlab, target, deployment.webhookUrl),
    deadLetterQueue: resources.deadLetterQueueUrl ? await dlqDepth(deps, resources.deadLetterQueueUrl) : null,
    costThisMonth: monthCost(config, runnerItems, jobs, monthStart, now, deps.aws.region),
  };
}

/** The manager writes `runningSince` when it goes RUNNING (src/state/manager-record.ts). */
function startupSeconds(manager: ManagerItem & { runningSince?: number }): number | null {
  const { runningSince, startedAt } = manager;
  return typeof runningSince === "number" && runningSince >= startedAt
    ? (runningSince - startedAt) / 1000
    : null;
}

async function queryRunner(deps: StatusDeps, tableName: string, runner: RunnerConfig) {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  try {
    do {
      const page = await deps.aws.db.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": runnerPk(runner.name) },
          ExclusiveStartKey,
        }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  } catch (err) {
    throw awsError(`reading the state table ${tableName}`, err);
  }
  return {
    runner,
    slot: items.find((i) => i.sk === SLOT_SK) as SlotItem | undefined,
    managers: items.filter((i) => String(i.sk).startsWith(MANAGER_SK_PREFIX)) as unknown as ManagerItem[],
  };
}

async function describeTasks(
  deps: StatusDeps,
  cluster: string,
  taskArns: string[],
): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  // DescribeTasks takes at most 100 tasks per call.
  for (let i = 0; i < taskArns.length; i += 100) {
    try {
      const out = await deps.aws.ecs.send(
        new DescribeTasksCommand({ cluster, tasks: taskArns.slice(i, i + 100) }),
      );
      for (const task of out.tasks ?? [])
        if (task.taskArn) statuses.set(task.taskArn, task.lastStatus ?? "UNKNOWN");
    } catch (err) {
      throw awsError(`describing manager tasks in ${cluster}`, err);
    }
  }
  return statuses;
}

/** Job records (7-day TTL) are few enough for a scan from a terminal; the table has no index by status. */
async function scanJobs(deps: StatusDeps, tableName: string): Promise<PricedJobItem[]> {
  const jobs: PricedJobItem[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  try {
    do {
      const page = await deps.aws.db.send(
        new ScanCommand({
          TableName: tableName,
          FilterExpression: "begins_with(pk, :prefix)",
          ExpressionAttributeValues: { ":prefix": "JOB#" },
          ExclusiveStartKey,
        }),
      );
      jobs.push(...((page.Items ?? []) as PricedJobItem[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  } catch (err) {
    throw awsError(`reading the state table ${tableName}`, err);
  }
  return jobs;
}

/**
 * Priced at the size the driver recorded on the job record, else (job not yet prepared, older driver) at the
 * runner configuration's default job size; `costBasis` says which.
 */
export function jobStatus(
  job: PricedJobItem,
  pricing: RunnerConfig,
  region: string,
  publicIpv4 = false,
): JobStatus {
  const queue =
    job.pendingSeenAt !== undefined &&
    job.runningSeenAt !== undefined &&
    job.runningSeenAt >= job.pendingSeenAt
      ? (job.runningSeenAt - job.pendingSeenAt) / 1000
      : null;
  const duration =
    job.runningSeenAt !== undefined &&
    job.finishedSeenAt !== undefined &&
    job.finishedSeenAt >= job.runningSeenAt
      ? (job.finishedSeenAt - job.runningSeenAt) / 1000
      : null;
  const { task, basis } = jobPricing(job, pricing, publicIpv4);
  return {
    projectId: job.projectId,
    jobId: job.jobId,
    status: job.status,
    updatedAt: new Date(job.updatedAt).toISOString(),
    queueToStartSeconds: queue,
    durationSeconds: duration,
    estimatedCostUsd: duration === null ? null : taskCost(task, duration, region).usd,
    costBasis: basis,
  };
}

function monthCost(
  config: Config,
  runnerItems: { runner: RunnerConfig; managers: ManagerItem[] }[],
  jobs: PricedJobItem[],
  monthStart: number,
  now: number,
  region: string,
): StatusReport["costThisMonth"] {
  const pricing = config.runners[0] as RunnerConfig;
  let jobsUsd = 0;
  let priceRegion = region;
  for (const job of jobs) {
    if (job.runningSeenAt === undefined) continue;
    const start = Math.max(job.runningSeenAt, monthStart);
    const end = job.finishedSeenAt ?? (job.status === "running" ? now : undefined);
    if (end === undefined || end <= start) continue;
    const cost = taskCost(
      jobPricing(job, pricing, config.network.assignPublicIp).task,
      (end - start) / 1000,
      region,
    );
    jobsUsd += cost.usd;
    priceRegion = cost.priceRegion;
  }
  let managersUsd = 0;
  for (const { runner, managers } of runnerItems) {
    for (const m of managers) {
      const start = Math.max(m.startedAt, monthStart);
      const end = m.stoppedAt ?? (m.state === "STOPPED" ? (m.heartbeatAt ?? m.startedAt) : now);
      if (end <= start) continue;
      managersUsd += taskCost(
        {
          cpu: runner.manager.cpu,
          memoryMiB: runner.manager.memoryMiB,
          architecture: runner.manager.architecture,
          capacity: m.capacity === "FARGATE_SPOT" ? "FARGATE_SPOT" : "FARGATE",
          publicIpv4: config.network.assignPublicIp,
        },
        (end - start) / 1000,
        region,
      ).usd;
    }
  }
  const oldest = Math.min(now, ...jobs.map((j) => j.runningSeenAt ?? now));
  return {
    usd: jobsUsd + managersUsd,
    jobsUsd,
    managersUsd,
    priceRegion,
    since: new Date(Math.max(monthStart, oldest)).toISOString(),
    basis:
      "Fargate list prices × task time from the state table (job records live 7 days; jobs priced at the task size the driver recorded, else the default job size)",
  };
}

export async function webhookHealth(
  gitlab: GitLabApi | undefined,
  target: HookTarget | undefined,
  webhookUrl: string,
): Promise<WebhookHealth> {
  if (!gitlab || !target)
    return { state: "unknown", detail: "pass --project or --group and set GITLAB_TOKEN to see it" };
  const hook = (await gitlab.listHooks(target)).find((h) => h.url === webhookUrl);
  if (!hook)
    return { state: "missing", detail: `no webhook of ${target.kind} ${target.id} points at ${webhookUrl}` };
  const full = await gitlab.getHook(target, hook.id);
  const disabledUntil = full.disabled_until ?? null;
  const state =
    full.alert_status === "disabled"
      ? "disabled"
      : full.alert_status === "temporarily_disabled" ||
          (disabledUntil !== null && Date.parse(disabledUntil) > Date.now())
        ? "temporarily-disabled"
        : "healthy";
  return { state, hookId: hook.id, alertStatus: full.alert_status, disabledUntil };
}

async function dlqDepth(deps: StatusDeps, url: string) {
  try {
    const out = await deps.aws.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }),
    );
    return { url, messages: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) };
  } catch (err) {
    throw awsError(`reading the dead-letter queue ${url}`, err);
  }
}

const fmtSeconds = (s: number | null) =>
  s === null ? "-" : s < 120 ? `${s.toFixed(1)}s` : `${(s / 60).toFixed(1)}m`;
const fmtUsd = (usd: number | null) =>
  usd === null ? "-" : `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`;

/** The text view of `sgr status`. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [`Stack ${report.stackName} (${report.region})`, "", "Managers"];
  for (const runner of report.runners) {
    lines.push(
      `  ${runner.name}: ${runner.managers.length} running${runner.slot ? ` (slot ${runner.slot})` : ""}`,
    );
    for (const m of runner.managers) {
      lines.push(
        `    ${m.taskId}  ${m.state}/${m.ecsStatus}  ${m.capacity}  since ${m.startedAt}  started in ${fmtSeconds(m.startupSeconds)}  jobs ${m.runningJobs}`,
      );
    }
  }
  lines.push("", `Jobs: ${report.jobs.running} running, ${report.jobs.pending} pending`);
  if (report.jobs.recent.length > 0) {
    lines.push("  project/job          status    queue→start  duration  est. cost");
    for (const j of report.jobs.recent) {
      lines.push(
        `  ${`${j.projectId}/${j.jobId}`.padEnd(20)} ${j.status.padEnd(9)} ${fmtSeconds(j.queueToStartSeconds).padStart(11)}  ${fmtSeconds(j.durationSeconds).padStart(8)}  ${fmtUsd(j.estimatedCostUsd)}`,
      );
    }
  }
  const w = report.webhook;
  lines.push(
    "",
    `Webhook: ${w.state}${w.hookId ? ` (#${w.hookId})` : ""}${w.disabledUntil ? ` disabled until ${w.disabledUntil}` : ""}${w.detail ? ` — ${w.detail}` : ""}`,
  );
  if (w.state === "temporarily-disabled" || w.state === "disabled") {
    lines.push(
      "  fix: sgr setup re-sends a test delivery, which re-enables the hook once it succeeds; sgr doctor says why it failed",
    );
  }
  lines.push(
    `Dead-letter queue: ${report.deadLetterQueue ? `${report.deadLetterQueue.messages} message(s)` : "not configured"}`,
    `Estimated cost this month: ${fmtUsd(report.costThisMonth.usd)} (jobs ${fmtUsd(report.costThisMonth.jobsUsd)}, managers ${fmtUsd(report.costThisMonth.managersUsd)}; ${report.costThisMonth.priceRegion} prices, since ${report.costThisMonth.since.slice(0, 10)})`,
  );
  return `${lines.join("\n")}\n`;
}
