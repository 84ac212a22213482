/**
 * The manager with the REAL gitlab-runner (19.4.0, built by scripts/install-gitlab-runner.sh) against a minimal
 * GitLab stand-in (coordinator-stub.ts). It proves what the stand-in runner of drain.test.ts cannot: the real
 * runner accepts the config.toml we render, reads our `.runner_system_id`, turns the manager's SIGQUIT into a
 * graceful shutdown, and finishes a real job it was handed while the drain was already under way.
 * The custom executor here is a shell stand-in (fixtures/shell-executor.sh), not our driver: jobs through the
 * real driver are the driver's end-to-end tests.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ControlPlaneDeps } from "../../src/control-plane/deps.js";
import { requestDrain } from "../../src/control-plane/idle-stop.js";
import { readSlot } from "../../src/state/slots.js";
import type { ManagerItem } from "../../src/state/table.js";
import { CoordinatorStub } from "./coordinator-stub.js";
import {
  createStateTable,
  documentClient,
  fakeTaskArn,
  managerBundle,
  readRecord,
  realRunnerEnv,
  scaleUpSlot,
  startManager,
  TEST_TOKEN,
  waitFor,
} from "./support.js";

const GRACEFUL = "Starting graceful shutdown, waiting for builds to finish";
const table = `sgr-manager-real-${randomBytes(4).toString("hex")}`;
const db = documentClient();
let gitlab: CoordinatorStub;

beforeAll(async () => {
  gitlab = await new CoordinatorStub().start();
  await createStateTable(table);
  await managerBundle();
}, 120_000);

afterAll(() => gitlab.stop());

interface RunnerLogLine {
  msg: string;
  level?: string;
  time?: string;
  StopSignal?: number;
}

/** gitlab-runner's own log lines (logrus JSON, `msg`), told apart from ours (Powertools, `message`). */
function runnerMessages(output: string): RunnerLogLine[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"msg":'))
    .map((line) => JSON.parse(line) as RunnerLogLine);
}

/** `stateTableMs`: how often the manager polls and heartbeats its record (both see a DRAINING record). */
async function startWithRealRunner(runner: string, taskArn: string, stateTableMs: number) {
  await scaleUpSlot(db, table, runner, taskArn);
  const manager = await startManager({
    table,
    runner,
    taskArn,
    drainPollMs: stateTableMs,
    heartbeatMs: stateTableMs,
    extraEnv: {
      ...realRunnerEnv(),
      SGR_CONFIG: JSON.stringify({
        gitlab: { url: gitlab.url },
        runners: [{ name: runner, tags: ["fargate"], concurrent: 2 }],
      }),
    },
  });
  await waitFor(
    "record RUNNING",
    async () => (await readRecord(db, table, runner, taskArn))?.state === "RUNNING",
  );
  const systemId = readFileSync(join(manager.runnerHome, ".runner_system_id"), "utf8");
  const request = await waitFor(
    "a job request from this manager",
    () => gitlab.jobRequests.find((r) => r.body.system_id === systemId),
    30_000,
  );
  return { manager, request: request.body };
}

/** The scheduler's idle drain, through the control plane's own function. */
async function schedulerDrain(runner: string, taskArn: string): Promise<void> {
  const deps = { db, resources: { stateTableName: table } } as unknown as ControlPlaneDeps;
  const record = (await readRecord(db, table, runner, taskArn)) as unknown as ManagerItem;
  const slot = await readSlot({ db, tableName: table }, runner);
  expect(await requestDrain(deps, runner, record, slot, "idle", Date.now())).toBe(true);
}

describe("manager with the real gitlab-runner", () => {
  it("runs on our config.toml and system id, and ECS's SIGTERM reaches it as a graceful SIGQUIT", async () => {
    const runner = `real-${randomBytes(3).toString("hex")}`;
    const taskArn = fakeTaskArn();
    const { manager, request } = await startWithRealRunner(runner, taskArn, 300);
    // The runner read our token and our .runner_system_id (or it would have made up an id of its own).
    expect(request.token).toBe(TEST_TOKEN);
    expect(request.info?.executor).toBe("custom");

    manager.process.kill("SIGTERM");
    const exit = await manager.exited;
    expect(exit.code).toBe(0);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      drainReason: "received SIGTERM",
      stopReason: "gitlab-runner exited with code 0",
    });
    const messages = runnerMessages(manager.output());
    // SIGQUIT (3), not the SIGTERM (15) the manager got: graceful, running jobs would finish.
    expect(messages).toContainEqual(expect.objectContaining({ msg: GRACEFUL, StopSignal: 3 }));
    expect(messages.map((m) => m.msg)).not.toContain("Starting forceful shutdown");
    // Our config.toml loaded without complaint (log_format = "json" is why these lines parse at all).
    expect(messages.map((m) => m.msg)).toContain("Configuration loaded");
    expect(messages.filter((m) => m.level === "warning" && /configuration|config file/i.test(m.msg))).toEqual(
      [],
    );
    expect(manager.output()).not.toContain(TEST_TOKEN);
  }, 60_000);

  it("a job handed out after the scheduler wrote DRAINING, before the manager saw it, runs to success", async () => {
    const runner = `real-${randomBytes(3).toString("hex")}`;
    const taskArn = fakeTaskArn();
    // The manager reads its record every 8 s; the runner asks for jobs every 3 s (check_interval), so the job is
    // taken inside the window: DRAINING is in the table and gitlab-runner has not been told.
    const { manager } = await startWithRealRunner(runner, taskArn, 8000);
    const drainWrittenAt = Date.now();
    await schedulerDrain(runner, taskArn);
    const jobId = 4000 + Math.floor(Math.random() * 1000);
    gitlab.offer({ id: jobId, script: ["sleep 2", "echo race-job-done"] });

    const exit = await manager.exited;
    expect(exit.code).toBe(0);
    const assignedAt = gitlab.assignedAt.get(jobId);
    expect(assignedAt).toBeDefined();
    const graceful = runnerMessages(manager.output()).find((m) => m.msg === GRACEFUL);
    expect(graceful?.StopSignal).toBe(3);
    expect(assignedAt!).toBeGreaterThanOrEqual(drainWrittenAt);
    expect(assignedAt!).toBeLessThan(Date.parse(graceful!.time!));
    // The job was not cut short: the runner reported success with the script's output, then exited.
    expect(gitlab.finalState(jobId)).toBe("success");
    expect(gitlab.traces.get(jobId)).toContain("race-job-done");
    expect(gitlab.states.get(jobId)!.at(-1)!.at).toBeLessThanOrEqual(exit.at);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      drainReason: "idle",
    });
    expect(gitlab.unexpected).toEqual([]);
  }, 90_000);
});
