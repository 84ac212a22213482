/**
 * Why the wake starts a new gitlab-runner rather than lowering its check interval, measured with the real runner
 * (19.4) against the coordinator simulator (long polling off), custom executor = the shell stand-in:
 *   reload      a config reload from check_interval 10 s to 1 s, sent (SIGHUP) 3 s into the runner's sleep → its
 *               next job request: the reload waits out the sleep it interrupts (commands/multi.go feedRunners)
 *   restart     a new gitlab-runner process → its first job request (what a wake costs)
 *   retire      SIGQUIT to an idle gitlab-runner → its exit
 * Standalone: `tsx bench/wake.bench.ts`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { stringify } from "smol-toml";
import { GitLabSim } from "../test/support/gitlab-sim.js";
import { requireTool } from "../test/support/tools.js";
import { type BenchSuite, median } from "./types.js";

const SHELL_EXECUTOR = fileURLToPath(new URL("../test/manager/fixtures/shell-executor.sh", import.meta.url));
const SAMPLES = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configToml(url: string, token: string, checkIntervalSeconds: number): string {
  const stage = (name: string) => ({ [`${name}_exec`]: SHELL_EXECUTOR, [`${name}_args`]: [name] });
  return stringify({
    concurrent: 2,
    check_interval: checkIntervalSeconds,
    log_format: "json",
    runners: [
      {
        name: "wake-bench",
        url,
        token,
        executor: "custom",
        request_concurrency: 2,
        shell: "bash",
        builds_dir: "/tmp/sgr-wake-bench/builds",
        cache_dir: "/tmp/sgr-wake-bench/cache",
        custom: { ...stage("config"), ...stage("prepare"), ...stage("run"), ...stage("cleanup") },
      },
    ],
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("gitlab-runner sent no job request in time");
    await sleep(10);
  }
}

const exitOf = (child: ChildProcess) => new Promise<void>((resolve) => child.once("exit", () => resolve()));

const suite: BenchSuite = {
  name: "wake",
  async run() {
    chmodSync(SHELL_EXECUTOR, 0o755);
    const binary = requireTool("gitlab-runner/19.4.0/gitlab-runner", "gitlab-runner");
    const sim = await new GitLabSim({ longPolling: "off" }).start();
    const token = sim.addRunner();
    const home = mkdtempSync(join(tmpdir(), "sgr-wake-bench-"));
    const configPath = join(home, "config.toml");
    const requests = () => sim.requests.filter((r) => r.path === "/api/v4/jobs/request");
    const start = () =>
      spawn(binary, ["run", "--config", configPath, "--working-directory", home], { stdio: "ignore" });
    const children: ChildProcess[] = [];
    try {
      writeFileSync(configPath, configToml(sim.url, token, 10));
      const restarts: number[] = [];
      const retires: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const before = requests().length;
        const startedAt = Date.now();
        const child = start();
        children.push(child);
        await waitUntil(() => requests().length > before, 30_000);
        restarts.push(Date.now() - startedAt);
        await sleep(1_000);
        const quitAt = Date.now();
        const exited = exitOf(child);
        child.kill("SIGQUIT");
        await exited;
        retires.push(Date.now() - quitAt);
      }

      const runner = start();
      children.push(runner);
      await waitUntil(() => requests().length > 0, 30_000);
      const firstRequestAt = requests().at(-1)!.at;
      await sleep(3_000);
      const before = requests().length;
      writeFileSync(configPath, configToml(sim.url, token, 1));
      const reloadAt = Date.now();
      runner.kill("SIGHUP");
      await waitUntil(() => requests().length > before, 30_000);
      const reload = requests()[before]!.at - reloadAt;
      const exited = exitOf(runner);
      runner.kill("SIGQUIT");
      await exited;
      return [
        {
          metric: "reload 10 s → 1 s, 3 s into the sleep",
          value: `next request after ${(reload / 1000).toFixed(1)} s (${((requests()[before]!.at - firstRequestAt) / 1000).toFixed(1)} s after the last)`,
        },
        {
          metric: "restart → first job request",
          value: `median ${median(restarts)} ms, max ${Math.max(...restarts)} ms`,
        },
        {
          metric: "idle SIGQUIT → exit",
          value: `median ${median(retires)} ms, max ${Math.max(...retires)} ms`,
        },
      ];
    } finally {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await sim.close();
    }
  },
};
export default suite;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  suite.run().then(
    (result) => {
      for (const row of result) console.log(`${row.metric.padEnd(40)} ${row.value}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
