/**
 * The wake with the REAL gitlab-runner (19.4) against the coordinator simulator in both GitLab modes: long polling
 * off (every request answered at once) and Workhorse long polling (a request held until the queue changes, then
 * answered 204 without a job). The runner's check interval is a minute here, so a job taken within seconds was taken
 * because the manager woke it — and it runs to success on the old generation or the new one, never lost.
 * The custom executor is a shell stand-in (fixtures/shell-executor.sh), not our driver.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stateTableJobCounter } from "../../src/state/job-counter.js";
import { recordPendingJob } from "../../src/state/pending-wake.js";
import { GitLabSim, type LongPollingMode } from "../support/gitlab-sim.js";
import {
  createStateTable,
  documentClient,
  fakeTaskArn,
  managerBundle,
  readRecord,
  realRunnerEnv,
  scaleUpSlot,
  startManager,
  waitFor,
} from "./support.js";

const CHECK_INTERVAL_SECONDS = 60;
const table = `sgr-manager-wake-${randomBytes(4).toString("hex")}`;
const db = documentClient();
const store = { db, tableName: table };
const sims: GitLabSim[] = [];

beforeAll(async () => {
  await createStateTable(table);
  await managerBundle();
}, 120_000);

afterAll(async () => {
  for (const sim of sims) await sim.close();
});

const jobRequests = (sim: GitLabSim) => sim.requests.filter((r) => r.path === "/api/v4/jobs/request");

async function startWithSim(longPolling: LongPollingMode) {
  const sim = await new GitLabSim({ longPolling, longPollMs: 20_000 }).start();
  sims.push(sim);
  const token = sim.addRunner();
  const runner = `wake-${randomBytes(3).toString("hex")}`;
  const taskArn = fakeTaskArn();
  await scaleUpSlot(db, table, runner, taskArn);
  // A job pending before the manager started: its first request takes it, no wake needed.
  await recordPendingJob(store, runner, { projectId: 4242, jobId: 1 }, Date.now());
  const manager = await startManager({
    table,
    runner,
    taskArn,
    extraEnv: {
      RUNNER_TOKEN: token,
      ...realRunnerEnv(),
      SGR_CONFIG: JSON.stringify({
        gitlab: { url: sim.url },
        runners: [
          {
            name: runner,
            tags: ["fargate"],
            concurrent: 2,
            checkIntervalSeconds: CHECK_INTERVAL_SECONDS,
            wake: { pollMs: 250 },
          },
        ],
      }),
    },
  });
  await waitFor("a first job request", () => jobRequests(sim).length > 0, 30_000);
  return { sim, runner, taskArn, manager };
}

const woken = (output: string) =>
  output.split("\n").filter((line) => line.includes("woke gitlab-runner for pending jobs")).length;

describe.each<LongPollingMode>(["off", "workhorse"])(
  "wake with the real gitlab-runner, long polling %s",
  (mode) => {
    it("takes a job queued while the runner sleeps its check interval at once, and it runs to success", async () => {
      const { sim, runner, taskArn, manager } = await startWithSim(mode);
      // Past the first request: the runner now sleeps a minute (and, with Workhorse, holds requests open).
      await new Promise((r) => setTimeout(r, 1_500));
      const quietRequests = jobRequests(sim).length;

      const queuedAt = Date.now();
      const job = sim.enqueue({
        name: "woken",
        script: ["echo woken-job-ran"],
        variables: { GIT_STRATEGY: "none" },
      });
      await recordPendingJob(store, runner, { projectId: 4242, jobId: job.id }, Date.now());
      await sim.waitForFinal(job, 30_000);
      expect(job.final?.state, sim.traceText(job)).toBe("success");
      expect(sim.traceText(job)).toContain("woken-job-ran");
      // Taken long before the runner's own next request, a minute after its first, would have come.
      expect(job.assignedAt! - queuedAt).toBeLessThan((CHECK_INTERVAL_SECONDS * 1000) / 2);
      expect(woken(manager.output())).toBe(1);
      // Before the job: nothing beyond the requests of the first feed (a minute apart, and held with Workhorse).
      expect(quietRequests).toBeLessThanOrEqual(2);

      manager.process.kill("SIGTERM");
      const exit = await manager.exited;
      expect(exit.code).toBe(0);
      expect(await readRecord(db, table, runner, taskArn)).toMatchObject({ state: "STOPPED" });
      // Both generations shut down gracefully; neither was forced.
      const output = manager.output();
      expect(output).not.toContain("Starting forceful shutdown");
      expect(readFileSync(join(manager.runnerHome, "config.toml"), "utf8")).toContain(
        `check_interval = ${CHECK_INTERVAL_SECONDS}`,
      );
    }, 90_000);

    it("wakes a runner that runs a job into a generation allowed the rest of concurrent, widened once the job ends", async () => {
      const { sim, runner, taskArn, manager } = await startWithSim(mode);
      await new Promise((r) => setTimeout(r, 1_500));
      const long = sim.enqueue({
        name: "long",
        script: ["echo long-job-running", "sleep 8", "echo long-job-done"],
        variables: { GIT_STRATEGY: "none" },
      });
      await recordPendingJob(store, runner, { projectId: 4242, jobId: long.id }, Date.now());
      await sim.waitForTrace(long, "long-job-running", 30_000);
      // What the driver records when it prepares a job (the shell executor stands in for it here).
      const managerTaskId = taskArn.split("/").pop()!;
      await stateTableJobCounter(db, table, () => Date.now() - 5_000).started({
        runnerName: runner,
        managerTaskId,
        projectId: "4242",
        jobId: String(long.id),
      });

      const queuedAt = Date.now();
      const second = sim.enqueue({
        name: "beside",
        script: ["echo beside-ran"],
        variables: { GIT_STRATEGY: "none" },
      });
      await recordPendingJob(store, runner, { projectId: 4242, jobId: second.id }, Date.now());
      await sim.waitForFinal(second, 30_000);
      expect(second.final?.state, sim.traceText(second)).toBe("success");
      expect(second.assignedAt! - queuedAt).toBeLessThan((CHECK_INTERVAL_SECONDS * 1000) / 2);
      // Taken while the long job still ran, by a generation allowed the one job left of concurrent (2).
      expect(long.final).toBeUndefined();
      const generationConfig = join(manager.runnerHome, "config-2.toml");
      expect(readFileSync(generationConfig, "utf8")).toMatch(/^concurrent = 1$/m);

      await sim.waitForFinal(long, 30_000);
      expect(long.final?.state, sim.traceText(long)).toBe("success");
      await waitFor("the newest generation allowed all of concurrent again", () =>
        /^concurrent = 2$/m.test(readFileSync(generationConfig, "utf8")),
      );

      manager.process.kill("SIGTERM");
      expect((await manager.exited).code).toBe(0);
      expect(manager.output()).not.toContain("Starting forceful shutdown");
    }, 90_000);
  },
);
