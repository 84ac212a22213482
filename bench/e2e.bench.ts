/**
 * Queue-to-start of the whole product (test/e2e/world), with the local Fargate's `realistic` delay profile, in both
 * GitLab modes (long polling off, and Workhorse long polling of 50 s as on GitLab.com): a cold job of a name never
 * seen (no manager running, no recipe: two starts in a row), then — its manager stopped — a cold job of the same
 * name (scale-up starts its task speculatively from the recipe the first one left), then warm ones of that name
 * (the manager from the cold job still up, idle), each split by phase:
 *   webhook   job queued → the pending Job Hook answered by the webhook Function URL
 *   event     → the event delivered by the pending-job rule to scale-up
 *   scale-up  → scale-up returned (it started the manager task, or recorded the job for the running one)
 *   manager   → the manager task RUNNING (cold only)
 *   requested → gitlab-runner took the job (jobs/request answered with it)
 *   job task  → the job task RUNNING
 *   script    → the first byte of the script's output in the trace
 * and, for the cold jobs, the manager's own start: its container started → gitlab-runner's first jobs/request
 * (goal under a second).
 * against the modelled floor, one Fargate start: the local Fargate's own start time (RunTask → RUNNING) of the job's
 * task. Warm is measured three times (the median job's phases are shown, and every job's queued → requested), and
 * once more while the manager runs another job (the wake then starts a generation beside the busy one). The
 * goals (cold ≤ floor + 5 s, warm ≤ floor + 2 s) print PASS or MISS with the ratio total / floor; the cold
 * path's two starts in a row are shown too. Between the two jobs the idle manager's job requests are counted: the
 * calm request rate. `SGR_BENCH_WAKE=off` turns the wake off (config `wake.enabled`) and `SGR_BENCH_SPECULATIVE=off`
 * the speculative start (`jobs.speculativeStart.enabled`), for before/after comparisons.
 * Standalone: `tsx bench/e2e.bench.ts` (starts its own moto when AWS_ENDPOINT_URL is unset).
 */
import { pathToFileURL } from "node:url";
import { jobTaskOf, jobTaskStopped } from "../test/e2e/world/jobs.js";
import { startWorld, type World } from "../test/e2e/world/world.js";
import type { LongPollingMode, SimJob } from "../test/support/gitlab-sim.js";
import type { TaskRecord } from "../test/support/local-fargate/index.js";
import { type MotoServer, motoEnv, startMoto } from "../test/support/moto.js";
import { type BenchRow, type BenchSuite, median } from "./types.js";

const SCRIPT_MARKER = "queue-to-start-first-byte";
const LONG_JOB_MARKER = "long-job-running";
/** Every measured job has this name, so all but the first find the recipe its name left. */
const JOB_NAME = "build";

/** Workhorse's polling duration on GitLab.com and in GitLab's docs. */
const WORKHORSE_POLLING_MS = 50_000;
/** How long the idle manager is watched between the cold and the warm job. */
const CALM_WINDOW_MS = 60_000;
/** Warm jobs per mode, queued at random points of the runner's check interval: one sample says little. */
const WARM_JOBS = 3;
/** The goals over one Fargate start (ms). */
const GOAL_MARGIN_MS = { cold: 5_000, warm: 2_000 } as const;
/** The manager's goal from its container start to gitlab-runner's first jobs/request (ms). */
const MANAGER_FIRST_REQUEST_GOAL_MS = 1_000;

interface Phases {
  total: number;
  /** One Fargate start: the job task's. */
  floor: number;
  /** The manager's start (cold only): the cold path's second start in a row. */
  managerStart?: number;
  /** The manager's own start (cold only): its container started → gitlab-runner's first jobs/request arrived. */
  managerToFirstRequest?: number;
  /** Each phase: when it ended after the job was queued, and how long after the previous phase's end. */
  phases: { label: string; at: number; duration: number }[];
}

/** When the task reached RUNNING, counted from its RunTask (the modelled Fargate start). */
function startTime(record: TaskRecord): number {
  const created = record.task.createdAt ? new Date(record.task.createdAt).getTime() : Number.NaN;
  return (record.reachedAt.RUNNING ?? Number.NaN) - created;
}

/** The runner's own timestamp of the first trace line holding `marker` (the script's first output). */
function firstScriptByte(world: World, job: SimJob): number {
  const line = world.sim
    .traceText(job)
    .split("\n")
    .find((l) => l.includes(SCRIPT_MARKER) && !l.includes("echo"));
  const stamp = line?.match(/^(\S+Z) /)?.[1];
  if (!stamp) throw new Error(`job ${job.id}: no script output in the trace`);
  return new Date(stamp).getTime();
}

async function measure(world: World, label: string, cold: boolean): Promise<Phases> {
  const queuedAt = Date.now();
  const job = world.sendJob({
    name: JOB_NAME,
    script: [`echo ${SCRIPT_MARKER}`],
    image: "debian:bookworm-slim",
  });
  await world.waitForJob(job, 600_000);
  const name = `${label} job ${job.id}`;
  if (job.final?.state !== "success") throw new Error(`${name} ended ${job.final?.state}`);
  await jobTaskStopped(world, job, 120_000);
  await world.routing.idle();
  const pending = world.hooks.deliveries.find((d) => d.jobId === job.id && d.status === "pending");
  const scaleUp = world.routing.invocations.find(
    (i) => i.function === world.lambdas["scale-up"].name && i.detail.jobId === job.id,
  );
  const jobTask = jobTaskOf(world, job);
  const manager = world.managers().at(-1);
  if (!pending || !scaleUp?.attempts[0] || !jobTask || !manager || job.assignedAt === undefined) {
    throw new Error(`${name}: a phase left no trace`);
  }
  const marks: [string, number][] = [
    ["webhook", pending.answeredAt],
    ["event", scaleUp.receivedAt],
    ["scale-up", scaleUp.attempts[0].endedAt],
    ...(cold ? ([["manager", manager.reachedAt.RUNNING ?? Number.NaN]] as [string, number][]) : []),
    ["requested", job.assignedAt],
    ["job task", jobTask.reachedAt.RUNNING ?? Number.NaN],
    ["script", firstScriptByte(world, job)],
  ];
  // Phases may overlap (the event is on the bus before the webhook's answer is back): a negative duration says so.
  let previous = queuedAt;
  const phases = marks.map(([label, at]) => {
    const phase = { label, at: at - queuedAt, duration: at - previous };
    previous = Math.max(previous, at);
    return phase;
  });
  return {
    total: previous - queuedAt,
    floor: startTime(jobTask),
    ...(cold
      ? { managerStart: startTime(manager), managerToFirstRequest: firstRequestAfter(world, manager) }
      : {}),
    phases,
  };
}

/** From the manager's container start to the first jobs/request that arrived after it (one manager runs at a time). */
function firstRequestAfter(world: World, manager: TaskRecord): number {
  const started = manager.reachedAt.RUNNING ?? Number.NaN;
  const first = world.sim.requests.find((r) => r.path === "/api/v4/jobs/request" && r.receivedAt >= started);
  return (first?.receivedAt ?? Number.NaN) - started;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function rows(label: string, measured: Phases, marginMs: number): BenchRow[] {
  const limit = measured.floor + marginMs;
  const met = measured.total <= limit;
  return [
    ...measured.phases.map((phase) => ({
      metric: `${label} ${phase.label}`,
      value: `${seconds(phase.duration)} (at ${seconds(phase.at)})`,
    })),
    { metric: `${label} queue-to-start`, value: seconds(measured.total) },
    { metric: `${label} floor (one start)`, value: seconds(measured.floor) },
    ...(measured.managerStart !== undefined
      ? [{ metric: `${label} two starts in a row`, value: seconds(measured.floor + measured.managerStart) }]
      : []),
    ...(measured.managerToFirstRequest !== undefined
      ? [managerFirstRequestRow(label, measured.managerToFirstRequest)]
      : []),
    {
      metric: `${label} goal`,
      value: `${met ? "PASS" : "MISS"} ${seconds(measured.total)} vs ${seconds(limit)}, total / floor ${(measured.total / measured.floor).toFixed(2)}`,
      goal: `≤ one start + ${marginMs / 1000} s`,
      met,
    },
  ];
}

function managerFirstRequestRow(label: string, ms: number): BenchRow {
  const met = ms < MANAGER_FIRST_REQUEST_GOAL_MS;
  return {
    metric: `${label} manager container start → first jobs/request`,
    value: `${met ? "PASS" : "MISS"} ${(ms / 1000).toFixed(2)} s`,
    goal: `< ${MANAGER_FIRST_REQUEST_GOAL_MS / 1000} s`,
    met,
  };
}

/** A warm job queued while the manager runs another (long) job: the wake's generation beside a busy one. */
async function measureBesideLongJob(world: World): Promise<Phases> {
  const long = world.sendJob({
    name: "long-running",
    script: [`echo ${LONG_JOB_MARKER}`, "sleep 60"],
    image: "debian:bookworm-slim",
  });
  // The script runs once its first command shows in the trace.
  await world.sim.waitForTrace(long, LONG_JOB_MARKER, 600_000);
  // A moment into the long job, as jobs arrive at random while another runs.
  await new Promise((r) => setTimeout(r, Math.random() * 3_000));
  const measured = await measure(world, "warm, manager running a job", false);
  if (long.final) throw new Error(`the long job ${long.id} ended before the measured one was taken`);
  await world.waitForJob(long, 600_000);
  return measured;
}

/** jobs/request calls per minute while the manager idles between the two jobs. */
async function calmRequestRate(world: World): Promise<number> {
  const count = () => world.sim.requests.filter((r) => r.path === "/api/v4/jobs/request").length;
  const before = count();
  await new Promise((r) => setTimeout(r, CALM_WINDOW_MS));
  return ((count() - before) * 60_000) / CALM_WINDOW_MS;
}

interface Switches {
  wake: boolean;
  speculative: boolean;
}

async function measureMode(longPolling: LongPollingMode, switches: Switches): Promise<BenchRow[]> {
  const world = await startWorld({
    profile: "realistic",
    longPolling,
    longPollMs: WORKHORSE_POLLING_MS,
    runner: {
      wake: { enabled: switches.wake },
      jobs: { speculativeStart: { enabled: switches.speculative } },
    },
  });
  try {
    const unseen = await measure(world, "cold, name unseen", true);
    await world.stopManagers("benchmark");
    const cold = await measure(world, "cold", true);
    const calm = await calmRequestRate(world);
    const warm: Phases[] = [];
    for (let i = 0; i < WARM_JOBS; i++) {
      await new Promise((r) => setTimeout(r, Math.random() * 3_000));
      warm.push(await measure(world, `warm ${i + 1}`, false));
    }
    const typical = [...warm].sort((a, b) => a.total - b.total)[Math.floor(warm.length / 2)]!;
    const besideLong = await measureBesideLongJob(world);
    const requested = warm.map((w) => w.phases.find((p) => p.label === "requested")?.at ?? Number.NaN);
    const off = [switches.wake ? "" : ", no wake", switches.speculative ? "" : ", no speculative start"].join(
      "",
    );
    const mode = `long polling ${longPolling === "workhorse" ? "on" : "off"}${off}:`;
    return [
      ...rows(`${mode} cold, first job of its name`, unseen, GOAL_MARGIN_MS.cold),
      ...rows(`${mode} cold`, cold, GOAL_MARGIN_MS.cold),
      { metric: `${mode} idle jobs/request`, value: `${calm.toFixed(1)} per minute` },
      {
        metric: `${mode} warm queued → requested`,
        value: `median ${seconds(median(requested))}, max ${seconds(Math.max(...requested))} (${WARM_JOBS} jobs)`,
      },
      ...rows(`${mode} warm (median job)`, typical, GOAL_MARGIN_MS.warm),
      ...rows(`${mode} warm, manager running a job`, besideLong, GOAL_MARGIN_MS.warm),
    ];
  } finally {
    await world.stop();
  }
}

const suite: BenchSuite = {
  name: "e2e",
  async run() {
    let moto: MotoServer | undefined;
    if (!process.env.AWS_ENDPOINT_URL) {
      moto = await startMoto();
      Object.assign(process.env, motoEnv(moto.endpoint));
    }
    const switches = {
      wake: process.env.SGR_BENCH_WAKE !== "off",
      speculative: process.env.SGR_BENCH_SPECULATIVE !== "off",
    };
    try {
      const table: BenchRow[] = [];
      for (const mode of ["off", "workhorse"] as const) table.push(...(await measureMode(mode, switches)));
      return table;
    } finally {
      await moto?.stop();
    }
  },
};
export default suite;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  suite.run().then(
    (result) => {
      for (const row of result) console.log(`${row.metric.padEnd(44)} ${row.value}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
