/**
 * Cost of one finished job for the JobEstimatedCostUsd metric. The job-status function does not see the size
 * a job asked for (that lives in the driver), so a job is priced at the default job size of the runner
 * configuration whose tags match the runner that ran it — an estimate, labelled as such on the dashboard. The
 * driver records the size a job's task really got on the job's record (JobTaskSizeAttributes); `jobPricing`
 * prefers it when present.
 */
import type { Config, RunnerConfig } from "../config/schema.js";
import { type PricedTask, taskCost } from "./cost.js";

export interface PricedJobEvent {
  /** The runner that ran the job, as the job event names it (tags as registered). */
  runner?: { tags?: readonly string[] | null } | null;
}

/** The runner configuration whose tags are exactly the job runner's tags, else the first one. */
export function runnerConfigForJob(config: Config, event: PricedJobEvent): RunnerConfig {
  const tags = [...(event.runner?.tags ?? [])].sort().join(",");
  return (
    config.runners.find((r) => [...r.tags].sort().join(",") === tags) ?? (config.runners[0] as RunnerConfig)
  );
}

export function jobCostEstimator(config: Config, region: string) {
  return (event: PricedJobEvent, runningSeconds: number): number => {
    const runner = runnerConfigForJob(config, event);
    return taskCost(
      {
        ...runner.jobs.defaultSize,
        architecture: runner.jobs.defaultArchitecture,
        capacity: runner.jobs.capacity,
        publicIpv4: config.network.assignPublicIp,
      },
      runningSeconds,
      region,
    ).usd;
  };
}

/** What the driver writes on a job's state-table record (src/state/job-task-size.ts). */
export interface JobTaskSizeAttributes {
  taskCpu?: number;
  taskMemoryMiB?: number;
  taskEphemeralStorageGiB?: number;
  taskArchitecture?: string;
  taskCapacity?: string;
  /** GPUs of a Managed Instances job (0 or absent: none). */
  taskGpus?: number;
}

/** "actual": the size the driver recorded for the job; "default-size": the runner's default job size. */
export type CostBasis = "actual" | "default-size";

const positive = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value) && value > 0;

/**
 * The task to price a job record at: its recorded size when complete and sane, else `runner`'s default; with a
 * public IPv4 address when the deployment gives tasks one.
 */
export function jobPricing(
  record: JobTaskSizeAttributes,
  runner: RunnerConfig,
  publicIpv4 = false,
): { task: PricedTask; basis: CostBasis } {
  const { taskCpu, taskMemoryMiB, taskEphemeralStorageGiB, taskArchitecture, taskCapacity, taskGpus } =
    record;
  if (
    positive(taskCpu) &&
    positive(taskMemoryMiB) &&
    (taskArchitecture === "x86_64" || taskArchitecture === "arm64") &&
    (taskCapacity === "FARGATE" || taskCapacity === "FARGATE_SPOT" || taskCapacity === "MANAGED_INSTANCES")
  ) {
    return {
      task: {
        cpu: taskCpu,
        memoryMiB: taskMemoryMiB,
        ephemeralStorageGiB: positive(taskEphemeralStorageGiB) ? taskEphemeralStorageGiB : undefined,
        architecture: taskArchitecture,
        capacity: taskCapacity,
        gpus: positive(taskGpus) ? taskGpus : undefined,
        publicIpv4,
      },
      basis: "actual",
    };
  }
  return {
    task: {
      ...runner.jobs.defaultSize,
      architecture: runner.jobs.defaultArchitecture,
      capacity: runner.jobs.capacity,
      publicIpv4,
    },
    basis: "default-size",
  };
}
