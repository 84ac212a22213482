/**
 * End to end, the speculative job-task start: once a job of a name has run, scale-up starts the next pending job
 * of that name's task at once, from the recorded recipe, before a manager takes the job. Jobs are queued `held`
 * (pending, hooks sent, not handed to the runner) until their speculative task runs, so each case is about what
 * the driver then does, not about which start wins a race:
 * - hit: the driver adopts the waiting task, and the job runs in it: one task for the job;
 * - miss: the job now needs another size; the waiting task is stopped with the reason, the right one started;
 * - nobody adopts: the job never reaches a runner; the task's agent exits at its deadline and the task stops;
 * - two pending jobs of the same name: each gets, and adopts, its own task;
 * - cold (no manager running, the job not held): the job's task starts alongside the manager and is adopted.
 */
import { CloudWatchLogsClient, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { beforeAll, describe, expect, it } from "vitest";
import type { JobDefinition, SimJob } from "../support/gitlab-sim.js";
import type { TaskRecord } from "../support/local-fargate/index.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

const CASE_TIMEOUT_MS = 15 * 60_000;
const ADOPT_DEADLINE_SECONDS = 45;

const jobs = useJobsWorld({
  runner: {
    jobs: { speculativeStart: { enabled: true, adoptDeadlineSeconds: ADOPT_DEADLINE_SECONDS } },
  },
});

beforeAll(async () => {
  const { world, images, send } = jobs;
  // The first job of each name records its recipe: later jobs of these names start speculatively.
  const seeds = ["spec-hit", "spec-miss", "spec-twice", "spec-unclaimed"].map((name) =>
    send({ name, image: images.debian.name, script: [`echo seed-${name}`] }),
  );
  for (const seed of seeds) {
    await world.waitForJob(seed, 600_000);
    expect(seed.final?.state, plainTrace(world, seed)).toBe("success");
  }
}, WORLD_START_TIMEOUT_MS);

/** The helper container's log of a job task (the job log group, stream `job/helper/<task id>`). */
async function helperLog(taskArn: string): Promise<string> {
  const logs = new CloudWatchLogsClient({});
  try {
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: jobs.world.deployed.managerResources.jobLogGroupName,
        logStreamName: `job/helper/${taskArn.slice(taskArn.lastIndexOf("/") + 1)}`,
        startFromHead: true,
      }),
    );
    return (out.events ?? []).map((e) => e.message).join("\n");
  } finally {
    logs.destroy();
  }
}

const isSpeculative = (t: TaskRecord) => t.task.startedBy?.startsWith("sgr-spec/") ?? false;

/** The job's speculative task, once scale-up has started it and it runs. */
async function speculativeTaskOf(job: SimJob, timeoutMs = 240_000): Promise<TaskRecord> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const task = jobTasksOf(jobs.world, job).find(isSpeculative);
    if (task)
      return jobs.world.fargate.waitFor(task.task.taskArn!, "RUNNING", Math.max(1, deadline - Date.now()));
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no speculative task started for job ${job.id} (${job.definition.name})`);
}

/** Queues the job held (pending, not handed out) and resolves with it once its speculative task runs. */
async function heldUntilSpeculative(
  definition: JobDefinition,
): Promise<{ job: SimJob; speculative: TaskRecord }> {
  const job = jobs.send(definition, { held: true });
  return { job, speculative: await speculativeTaskOf(job) };
}

/** Hands the held job out and waits for it; it must succeed. Resolves with its trace. */
async function releaseAndSucceed(job: SimJob): Promise<string> {
  jobs.world.sim.release(job);
  await jobs.world.waitForJob(job, 600_000);
  const trace = plainTrace(jobs.world, job);
  expect(job.final?.state, trace).toBe("success");
  return trace;
}

describe("speculative job-task start", () => {
  it(
    "hit: the waiting task is adopted and the job runs in it, the job's only task",
    async () => {
      const { job, speculative } = await heldUntilSpeculative({
        name: "spec-hit",
        image: jobs.images.debian.name,
        script: ["echo ran-in-adopted"],
      });
      const trace = await releaseAndSucceed(job);
      expect(trace).toContain("ran-in-adopted");
      expect(trace).toContain(`Adopted job task ${speculative.task.taskArn}`);
      expect(jobTasksOf(jobs.world, job).map((t) => t.task.taskArn)).toEqual([speculative.task.taskArn]);
      // DescribeTasks shows the secret file's ARN, never a secret.
      const helper = speculative.task.overrides?.containerOverrides?.find((c) => c.name === "helper");
      expect(helper?.environment?.some((e) => e.name === "SGR_AGENT_SECRET")).toBe(false);
      expect(helper?.environmentFiles?.[0]?.value).toMatch(/^arn:aws:s3:::.+\/speculative\/.+\.env$/);
      await expectJobTasksStopped(jobs.world, job);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "miss: a job that now needs another size stops the waiting task with the reason and runs in the right one",
    async () => {
      const { job, speculative } = await heldUntilSpeculative({
        name: "spec-miss",
        image: jobs.images.debian.name,
        variables: { SGR_MEMORY: "1Gi" },
        script: ["echo ran-in-replacement"],
      });
      const trace = await releaseAndSucceed(job);
      expect(trace).toContain("ran-in-replacement");
      expect(trace).toMatch(
        /Stopped the job task started ahead of the job \(speculative job task not adopted: its size/,
      );
      const stopped = await jobs.world.fargate.waitFor(speculative.task.taskArn!, "STOPPED", 150_000);
      expect(stopped.task.stoppedReason).toMatch(
        /^sgr: speculative job task not adopted: its size is .*1024 MiB/,
      );
      const tasks = jobTasksOf(jobs.world, job);
      expect(tasks).toHaveLength(2);
      expect(tasks.filter((t) => !isSpeculative(t)).map((t) => t.task.overrides?.memory)).toEqual(["1024"]);
      await expectJobTasksStopped(jobs.world, job);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "two pending jobs of the same name: each gets its own task, and each adopts its own",
    async () => {
      const twins = await Promise.all(
        [1, 2].map((n) =>
          heldUntilSpeculative({
            name: "spec-twice",
            image: jobs.images.debian.name,
            script: [`echo twice-${n}`],
          }),
        ),
      );
      expect(new Set(twins.map(({ speculative }) => speculative.task.taskArn)).size).toBe(2);
      await Promise.all(twins.map(({ job }) => releaseAndSucceed(job)));
      for (const { job, speculative } of twins) {
        expect(jobTasksOf(jobs.world, job).map((t) => t.task.taskArn)).toEqual([speculative.task.taskArn]);
        await expectJobTasksStopped(jobs.world, job);
      }
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "nobody adopts: the task's agent exits at its deadline and the task stops by itself",
    async () => {
      const { job, speculative } = await heldUntilSpeculative({
        name: "spec-unclaimed",
        image: jobs.images.debian.name,
        script: ["echo never"],
      });
      const stopped = await jobs.world.fargate.waitFor(
        speculative.task.taskArn!,
        "STOPPED",
        (ADOPT_DEADLINE_SECONDS + 120) * 1000,
      );
      const ranFor = (stopped.reachedAt.STOPPED ?? 0) - (stopped.reachedAt.RUNNING ?? 0);
      const why = `${stopped.task.stopCode}: ${stopped.task.stoppedReason}; helper log:\n${await helperLog(stopped.task.taskArn!)}`;
      expect(ranFor, why).toBeGreaterThanOrEqual((ADOPT_DEADLINE_SECONDS - 5) * 1000);
      expect(stopped.task.stopCode).toBe("EssentialContainerExited");
      const helper = stopped.task.containers?.find((c) => c.name === "helper");
      expect(helper?.exitCode).toBe(0);
      expect(await helperLog(stopped.task.taskArn!)).toContain("speculative job task not adopted");
      expect(stopped.task.tags?.some((t) => t.key === "sgr:manager-task")).toBe(false);
      jobs.world.sim.cancel(job);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "cold: with no manager running, the job's task starts alongside the manager and is adopted",
    async () => {
      await jobs.world.stopManagers("stopped by an operator");
      const before = jobs.world.managers().length;
      const job = jobs.send({
        name: "spec-hit",
        image: jobs.images.debian.name,
        script: ["echo cold-adopted"],
      });
      await jobs.world.waitForJob(job, 600_000);
      const trace = plainTrace(jobs.world, job);
      expect(job.final?.state, trace).toBe("success");
      const manager = jobs.world.managers()[before];
      expect(manager, "no manager was started for the job").toBeDefined();
      const tasks = jobTasksOf(jobs.world, job);
      expect(tasks).toHaveLength(1);
      expect(isSpeculative(tasks[0]!), tasks[0]!.task.startedBy).toBe(true);
      // The two starts overlapped: the job's task was asked for before the manager ran.
      const askedAt = new Date(tasks[0]!.task.createdAt!).getTime();
      expect(askedAt).toBeLessThan(manager!.reachedAt.RUNNING!);
      await expectJobTasksStopped(jobs.world, job);
    },
    CASE_TIMEOUT_MS,
  );
});
