/**
 * Driver figures, measured in one run through the REAL gitlab-runner (one `gitlab-runner run` process with two
 * runner entries on the GitLab simulator): (a) our driver on the local backend, (b) gitlab-runner's own shell
 * executor, on the same jobs.
 * - typical job (clone over HTTP, cache restore from S3/moto, 5 s script, cache save, artifact upload): wall time
 *   from assignment to final update, medians of BENCH_DRIVER_RUNS (default 3) alternating runs; goal ratio ≤ 1.15.
 * - a job of 20 trivial steps (`step_s01` … `step_s20`, each its own stage): stage duration from the runner's own
 *   trace timestamps of section_start/section_end. The step runs `true`, so the driver's whole stage time is its
 *   overhead (an upper bound); goal ≤ 40 ms median. The difference to the shell executor is reported too.
 * - a job printing 200 MiB: its wall time minus that of the same job printing 4 KiB (the runner keeps only 4 MiB of
 *   log, section markers included); throughput ratio shell time / driver time; goal ≥ 0.8.
 * - 50 jobs at once: sampled RSS of the manager side (gitlab-runner, its stage clients and the driver daemon; the
 *   local job tasks, which are separate Fargate tasks in production, are excluded and reported apart), peak while all
 *   50 scripts run, divided by 50; goal ≤ 30 MB.
 * Standalone: `tsx bench/driver.bench.ts` (starts its own moto when AWS_ENDPOINT_URL is unset).
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import {
  createWorld,
  type DriverSetup,
  type E2eWorld,
  processesUnder,
  runJob,
  startDriver,
  waitForNoProcessesUnder,
} from "../test/driver/e2e-support.js";
import { ensureDriverBuilt } from "../test/driver/support/build.js";
import type { JobDefinition, SimJob } from "../test/support/gitlab-sim.js";
import { type RunnerProcess, startRunner } from "../test/support/gitlab-sim-runner.js";
import { type MotoServer, motoEnv, startMoto } from "../test/support/moto.js";
import { type BenchRow, type BenchSuite, median } from "./types.js";

const RUNS = Number(process.env.BENCH_DRIVER_RUNS ?? 3);
const CONCURRENT_JOBS = Number(process.env.BENCH_DRIVER_CONCURRENT ?? 50);
const OUTPUT_BYTES = 200 * 1024 * 1024;
const JOB_TIMEOUT_MS = 300_000;

interface Bench {
  world: E2eWorld;
  driver: DriverSetup;
  runner: RunnerProcess;
  shellToken: string;
  driverToken: string;
}

const ms = (value: number) => `${value.toFixed(0)} ms`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function jobWallMs(job: SimJob): number {
  if (!job.assignedAt || !job.finishedAt) throw new Error(`job ${job.id} has no timing`);
  return job.finishedAt - job.assignedAt;
}

async function expectSuccess(
  bench: Bench,
  token: string,
  definition: Omit<JobDefinition, "runnerToken">,
): Promise<SimJob> {
  const job = await runJob(bench.world, token, definition, JOB_TIMEOUT_MS);
  if (job.final?.state !== "success") {
    throw new Error(`bench job ${definition.name} failed:\n${bench.world.sim.traceText(job).slice(-3000)}`);
  }
  return job;
}

/** Durations (ms) of sections whose name matches, from the runner's per-line trace timestamps. */
export function sectionDurations(trace: string, name: RegExp): Map<string, number> {
  const starts = new Map<string, number>();
  const durations = new Map<string, number>();
  for (const line of trace.split("\n")) {
    const stamp = line.match(/^(\d{4}-\d\d-\d\dT[\d:.]+Z) /);
    if (!stamp?.[1]) continue;
    const at = Date.parse(stamp[1]) + Number(`0.${stamp[1].split(".")[1]?.replace("Z", "").slice(3) ?? "0"}`);
    for (const marker of line.matchAll(/section_(start|end):\d+:([A-Za-z0-9_.-]+)/g)) {
      const [, kind, section] = marker;
      if (!section || !name.test(section)) continue;
      if (kind === "start") starts.set(section, at);
      else if (starts.has(section)) durations.set(section, at - (starts.get(section) ?? at));
    }
  }
  return durations;
}

async function typicalJob(bench: Bench): Promise<BenchRow[]> {
  const definition = (executor: string): Omit<JobDefinition, "runnerToken"> => ({
    name: `typical-${executor}`,
    script: ["sleep 5", "mkdir -p out vendor", "date > out/report.txt", "echo dependency > vendor/dep.txt"],
    cache: { key: `bench-typical-${executor}`, paths: ["vendor/"] },
    artifacts: { paths: ["out/"] },
  });
  // Warm-up: fills each executor's cache so the measured runs restore a real one.
  await expectSuccess(bench, bench.shellToken, definition("shell"));
  await expectSuccess(bench, bench.driverToken, definition("driver"));
  const shell: number[] = [];
  const driver: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    shell.push(jobWallMs(await expectSuccess(bench, bench.shellToken, definition("shell"))));
    driver.push(jobWallMs(await expectSuccess(bench, bench.driverToken, definition("driver"))));
  }
  const ratio = median(driver) / median(shell);
  return [
    { metric: `typical job wall time, shell executor (median of ${RUNS})`, value: ms(median(shell)) },
    { metric: `typical job wall time, driver local (median of ${RUNS})`, value: ms(median(driver)) },
    {
      metric: "typical job wall-time ratio driver/shell",
      value: ratio.toFixed(3),
      goal: "≤ 1.15",
      met: ratio <= 1.15,
    },
  ];
}

async function stepOverhead(bench: Bench): Promise<BenchRow[]> {
  const definition: Omit<JobDefinition, "runnerToken"> = {
    name: "twenty-steps",
    script: ["true"],
    extraSteps: Array.from({ length: 20 }, (_, i) => ({
      name: `s${String(i + 1).padStart(2, "0")}`,
      script: ["true"],
    })),
  };
  const perExecutor = async (token: string) => {
    const samples: number[] = [];
    for (let run = 0; run < Math.max(1, RUNS - 1); run++) {
      const job = await expectSuccess(bench, token, definition);
      const durations = sectionDurations(bench.world.sim.traceText(job), /^step_s\d\d$/);
      if (durations.size !== 20) throw new Error(`expected 20 step sections, found ${durations.size}`);
      samples.push(...durations.values());
    }
    return samples;
  };
  const shell = await perExecutor(bench.shellToken);
  const driver = await perExecutor(bench.driverToken);
  // A stage whose script is `true` is all overhead: the driver's whole stage time bounds its overhead from above.
  // (The shell executor starts a login bash per stage, which is why its trivial stage is slower.)
  const overhead = median(driver);
  return [
    {
      metric: "trivial stage duration, shell executor (median of 20 stages per job)",
      value: ms(median(shell)),
    },
    { metric: "trivial stage duration, driver local (median)", value: ms(median(driver)) },
    { metric: "difference driver − shell per stage (median)", value: ms(median(driver) - median(shell)) },
    {
      metric: "driver overhead per stage (whole trivial stage, median)",
      value: ms(overhead),
      goal: "≤ 40 ms",
      met: overhead <= 40,
    },
  ];
}

async function throughput(bench: Bench): Promise<BenchRow[]> {
  // The runner stops collecting the log after output_limit (4 MiB), section markers included, so the printing time
  // is taken as the job's wall time minus that of the same job printing 4 KiB. `|| true`: `yes` ends on SIGPIPE,
  // which pipefail would turn into a failure.
  const printing = (bytes: number): Omit<JobDefinition, "runnerToken"> => ({
    name: `print-${bytes}`,
    // busybox on both sides (the driver's user side has nothing else), so the executors' data paths are compared,
    // not GNU coreutils against busybox.
    script: [`{ busybox yes ${"0123456789".repeat(10).slice(0, 99)} || true; } | busybox head -c ${bytes}`],
  });
  const printMs = async (token: string) => {
    const small: number[] = [];
    const large: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      small.push(jobWallMs(await expectSuccess(bench, token, printing(4096))));
      large.push(jobWallMs(await expectSuccess(bench, token, printing(OUTPUT_BYTES))));
    }
    return Math.max(1, median(large) - median(small));
  };
  const shellMs = await printMs(bench.shellToken);
  const driverMs = await printMs(bench.driverToken);
  const rate = (msTaken: number) => `${(OUTPUT_BYTES / 1024 / 1024 / (msTaken / 1000)).toFixed(0)} MiB/s`;
  const ratio = shellMs / driverMs;
  return [
    { metric: "200 MiB output, shell executor", value: `${ms(shellMs)} (${rate(shellMs)})` },
    { metric: "200 MiB output, driver local", value: `${ms(driverMs)} (${rate(driverMs)})` },
    {
      metric: "output throughput ratio driver/shell",
      value: ratio.toFixed(3),
      goal: "≥ 0.8",
      met: ratio >= 0.8,
    },
  ];
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  rssBytes: number;
  command: string;
}

function processTable(): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const ppid = Number(status.match(/^PPid:\s+(\d+)/m)?.[1] ?? 0);
      const rssKb = Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      table.set(Number(entry), { pid: Number(entry), ppid, rssBytes: rssKb * 1024, command });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/**
 * RSS of the process trees under `roots` (the manager side), and separately of the local job tasks: every process
 * whose command line, root or working directory is under `taskDir` (agents, build loops, scripts; on Fargate these
 * run in the job's own task, not in the manager).
 */
function sampleMemory(
  roots: number[],
  taskDir: string,
): { managerBytes: number; taskBytes: number; processes: number } {
  const table = processTable();
  const taskPids = new Set(processesUnder(taskDir).map((line) => Number(line.split(":")[0])));
  const children = new Map<number, number[]>();
  for (const info of table.values()) children.set(info.ppid, [...(children.get(info.ppid) ?? []), info.pid]);
  // Everything a task process started belongs to the task too (services, script children).
  const pending = [...taskPids];
  while (pending.length > 0) {
    for (const child of children.get(pending.pop() ?? -1) ?? []) {
      if (!taskPids.has(child)) {
        taskPids.add(child);
        pending.push(child);
      }
    }
  }
  let managerBytes = 0;
  let processes = 0;
  const visit = (pid: number) => {
    const info = table.get(pid);
    if (!info || taskPids.has(pid)) return;
    managerBytes += info.rssBytes;
    processes++;
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const root of roots) visit(root);
  let taskBytes = 0;
  for (const pid of taskPids) taskBytes += table.get(pid)?.rssBytes ?? 0;
  return { managerBytes, taskBytes, processes };
}

/** A tiny HTTP switch the jobs poll with busybox wget, so all of them stay in their script until released. */
async function releaseSwitch(): Promise<{ url: string; release(): void; close(): Promise<void> }> {
  let released = false;
  const server: Server = createServer((_req, res) => {
    res.writeHead(released ? 200 : 404);
    res.end(released ? "go" : "wait");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/release`,
    release: () => {
      released = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function concurrentMemory(bench: Bench): Promise<BenchRow[]> {
  const roots = () => [bench.runner.process.pid ?? -1, bench.driver.daemon.pid ?? -1];
  const taskDir = `${bench.driver.workDir}/tasks`;
  const idle = sampleMemory(roots(), taskDir);
  const gate = await releaseSwitch();
  const jobs: SimJob[] = [];
  try {
    for (let i = 0; i < CONCURRENT_JOBS; i++) {
      jobs.push(
        bench.world.sim.enqueue({
          name: `parallel-${i}`,
          runnerToken: bench.driverToken,
          git: { repoUrl: bench.world.repo.url, sha: bench.world.repo.sha, ref: bench.world.repo.ref },
          script: ["echo in-script", `until wget -q -O /dev/null ${gate.url}; do sleep 1; done`],
        }),
      );
    }
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    let peak = { managerBytes: 0, taskBytes: 0, processes: 0 };
    let peakTaskBytes = 0;
    let allInScript = false;
    let samplesWhileAll = 0;
    while (Date.now() < deadline && samplesWhileAll < 10) {
      const sample = sampleMemory(roots(), taskDir);
      const inScript = jobs.filter((job) => bench.world.sim.traceText(job).includes("in-script")).length;
      const failed = jobs.find((job) => job.final);
      if (failed)
        throw new Error(
          `job ${failed.definition.name} ended early:\n${bench.world.sim.traceText(failed).slice(-2000)}`,
        );
      if (inScript === jobs.length) {
        allInScript = true;
        samplesWhileAll++;
      }
      if (sample.managerBytes > peak.managerBytes) peak = sample;
      if (inScript === jobs.length) peakTaskBytes = Math.max(peakTaskBytes, sample.taskBytes);
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!allInScript) throw new Error(`not all ${CONCURRENT_JOBS} jobs reached their script in time`);
    gate.release();
    await Promise.all(jobs.map((job) => bench.world.sim.waitForFinal(job, JOB_TIMEOUT_MS)));
    const perJob = peak.managerBytes / CONCURRENT_JOBS;
    const perJobAboveIdle = (peak.managerBytes - idle.managerBytes) / CONCURRENT_JOBS;
    return [
      { metric: "manager side RSS idle (gitlab-runner + driver daemon)", value: mb(idle.managerBytes) },
      {
        metric: `manager side RSS peak with ${CONCURRENT_JOBS} jobs running (${peak.processes} processes)`,
        value: mb(peak.managerBytes),
      },
      { metric: "manager side RSS per concurrent job above idle", value: mb(perJobAboveIdle) },
      {
        metric: "manager side RSS per concurrent job (peak / jobs)",
        value: mb(perJob),
        goal: "≤ 30 MB",
        met: perJob <= 30 * 1024 * 1024,
      },
      {
        metric: "local job task RSS per job (agent + busybox; a Fargate task in production)",
        value: mb(peakTaskBytes / CONCURRENT_JOBS),
      },
    ];
  } finally {
    gate.release();
    await gate.close();
  }
}

async function run(): Promise<BenchRow[]> {
  let moto: MotoServer | undefined;
  if (!process.env.AWS_ENDPOINT_URL) {
    moto = await startMoto();
    Object.assign(process.env, motoEnv(moto.endpoint));
  }
  const build = ensureDriverBuilt();
  const world = await createWorld();
  const driver = await startDriver(build.daemon);
  const shellToken = world.sim.addRunner();
  const driverToken = world.sim.addRunner();
  const runner = startRunner({
    url: world.sim.url,
    concurrent: CONCURRENT_JOBS + 4,
    env: driver.env,
    runners: [
      { name: "shell", token: shellToken, executor: "shell", cache: world.cache },
      {
        name: "driver",
        token: driverToken,
        executor: "custom",
        driverClient: build.client,
        cache: world.cache,
        requestConcurrency: 10,
      },
    ],
  });
  const bench: Bench = { world, driver, runner, shellToken, driverToken };
  try {
    const rows: BenchRow[] = [];
    for (const part of [typicalJob, stepOverhead, throughput, concurrentMemory]) {
      const partRows = await part(bench);
      // Progress on stderr: a later part failing still leaves the earlier figures visible.
      for (const row of partRows) console.error(`  ${row.metric}: ${row.value}`);
      rows.push(...partRows);
    }
    const left = await waitForNoProcessesUnder(`${driver.workDir}/tasks`, 30_000);
    rows.push({
      metric: "job task processes left behind",
      value: String(left.length),
      goal: "0",
      met: left.length === 0,
    });
    return rows;
  } finally {
    await runner.stop();
    await driver.stop();
    await world.close();
    await moto?.stop();
  }
}

const suite: BenchSuite = { name: "driver", run };
export default suite;

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  run()
    .then((rows) => {
      for (const row of rows) {
        const goal = row.goal ? `  (goal ${row.goal}: ${row.met ? "met" : "NOT met"})` : "";
        console.log(`${row.metric}: ${row.value}${goal}`);
      }
      if (rows.some((row) => row.met === false)) process.exitCode = 1;
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
