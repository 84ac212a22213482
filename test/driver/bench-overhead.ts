/**
 * Driver benchmark (not a test; run: `npx tsx test/driver/bench-overhead.ts`). Prints:
 * 1. per-stage overhead: median wall time of a trivial `run` stage through thin client → daemon → agent → build
 *    container, minus the median of running the same script directly with a shell (what the shell executor does);
 *    for the Go client and the Node client;
 * 2. throughput of a 200 MiB job log through the driver vs bash writing to a pipe;
 * 3. manager-side memory per concurrent job: RSS of the daemon plus every stage client alive while N jobs each run
 *    a stage at once, divided by N.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDriverBuilt } from "./support/build.js";
import { type FakeJob, fakeJob, removeFakeJobDirs } from "./support/stage-runner.js";

const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const CONCURRENT = Number(process.env.BENCH_JOBS ?? 50);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const rssKiB = (pid: string) => {
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : 0;
};

/** Runs `command args`, consuming stdout from a pipe; returns wall ms and bytes read. */
async function timed(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  let bytes = 0;
  await new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"], env: env ?? process.env });
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    child.on("close", resolve);
  });
  return { ms: performance.now() - started, bytes };
}

async function direct(script: string): Promise<number> {
  const path = join(work, "direct.sh");
  writeFileSync(path, script);
  return (await timed("bash", [path])).ms;
}

async function stageTimes(job: FakeJob, script: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const result = await job.run(`step_${i}`, script);
    if (result.code !== 0) throw new Error(`stage failed: ${result.stdout}${result.stderr}`);
    times.push(result.durationMs);
  }
  return times;
}

const build = ensureDriverBuilt();
const work = mkdtempSync(join(tmpdir(), "sgr-driver-bench-"));
const baseEnv = {
  SGR_DRIVER_SOCKET: join(work, "daemon.sock"),
  SGR_DRIVER_BACKEND: "local",
  SGR_LOCAL_DIR: join(work, "tasks"),
  SGR_DRIVER_NODE: process.execPath,
};
const script = "echo step done\n";
try {
  const goJob = fakeJob({ client: build.client, baseEnv });
  for (const s of ["config", "prepare"]) await goJob.stage([s]);
  const nodeJob = fakeJob({ client: build.nodeClient, baseEnv });
  for (const s of ["config", "prepare"]) await nodeJob.stage([s]);

  const baseline: number[] = [];
  for (let i = 0; i < STEPS; i++) baseline.push(await direct(script));
  const viaGo = await stageTimes(goJob, script);
  const viaNode = await stageTimes(nodeJob, script);
  const base = median(baseline);
  console.log(`per-stage: direct bash ${base.toFixed(1)} ms median over ${STEPS}`);
  console.log(
    `per-stage: Go client ${median(viaGo).toFixed(1)} ms → driver overhead ${(median(viaGo) - base).toFixed(1)} ms (goal ≤ 40)`,
  );
  console.log(
    `per-stage: Node client ${median(viaNode).toFixed(1)} ms → driver overhead ${(median(viaNode) - base).toFixed(1)} ms`,
  );
  // Throughput: a stage printing 200 MiB through the driver vs the same tools writing to a pipe directly. The
  // user side of the local backend is busybox (4 KiB writes, slower than coreutils), so that route is compared
  // with busybox run directly, and the helper route (host coreutils) with bash + coreutils.
  const big =
    "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c 209715200\n";
  const bigScript = join(goJob.tmp, "big.sh");
  writeFileSync(bigScript, big);
  const busyboxBin = join(work, "busybox-bin");
  execFileSync("sh", [
    "-c",
    `mkdir -p ${busyboxBin} && for a in sh yes head; do ln -sf /bin/busybox ${busyboxBin}/$a; done`,
  ]);
  const routes = [
    {
      name: "build container (busybox)",
      stage: "step_big",
      direct: () => timed(join(busyboxBin, "sh"), [bigScript], { PATH: busyboxBin }),
    },
    { name: "helper (coreutils)", stage: "get_sources", direct: () => timed("bash", [bigScript]) },
  ];
  for (const route of routes) {
    const direct = await route.direct();
    const viaDriver = await timed(build.client, ["run", bigScript, route.stage], goJob.env);
    if (viaDriver.bytes !== 209_715_200 || direct.bytes !== 209_715_200)
      throw new Error("200 MiB did not arrive");
    console.log(
      `throughput, ${route.name}: 200 MiB direct ${direct.ms.toFixed(0)} ms, through the driver ${viaDriver.ms.toFixed(0)} ms ` +
        `→ ratio ${(direct.ms / viaDriver.ms).toFixed(2)} (goal ≥ 0.8)`,
    );
  }
  for (const job of [goJob, nodeJob]) await job.stage(["cleanup"]);

  // Memory with CONCURRENT jobs each in a running stage.
  const jobs = Array.from({ length: CONCURRENT }, () => fakeJob({ client: build.client, baseEnv }));
  for (let i = 0; i < jobs.length; i += 10) {
    await Promise.all(
      jobs.slice(i, i + 10).map(async (job) => {
        await job.stage(["config"]);
        const prepared = await job.stage(["prepare"]);
        if (prepared.code !== 0) throw new Error(`prepare failed: ${prepared.stdout}`);
      }),
    );
  }
  const daemonPid = readFileSync(`${baseEnv.SGR_DRIVER_SOCKET}.pid`, "utf8").trim();
  const running = jobs.map((job) => job.run("build_script", "sleep 4; echo done"));
  await new Promise((r) => setTimeout(r, 2500));
  const clients = execFileSync("pgrep", ["-f", `^${build.client} run`], { encoding: "utf8" })
    .trim()
    .split("\n");
  const daemonKiB = rssKiB(daemonPid);
  const clientsKiB = clients.reduce((sum, pid) => sum + rssKiB(pid), 0);
  await Promise.all(running);
  const totalMiB = (daemonKiB + clientsKiB) / 1024;
  console.log(
    `memory: ${CONCURRENT} concurrent jobs: daemon ${(daemonKiB / 1024).toFixed(1)} MiB + ${clients.length} stage clients ` +
      `${(clientsKiB / 1024).toFixed(1)} MiB = ${(totalMiB / CONCURRENT).toFixed(1)} MiB per job (goal ≤ 30, gitlab-runner not included)`,
  );
  await Promise.all(jobs.map((job) => job.stage(["cleanup"])));
  process.kill(Number(daemonPid), "SIGTERM");
  for (let i = 0; i < 200 && existsSync(`/proc/${daemonPid}`); i++)
    await new Promise((r) => setTimeout(r, 10));
} finally {
  rmSync(work, { recursive: true, force: true });
  removeFakeJobDirs();
}
