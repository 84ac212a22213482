/**
 * The manager process end to end against moto's DynamoDB: signals, the drain race and the record's life.
 *
 * gitlab-runner here is a STAND-IN (fixtures/fake-gitlab-runner.mjs), not the real runner: it only behaves as
 * the runner's docs say `run` does on signals (SIGQUIT: no new jobs, running ones finish, exit 0; SIGTERM: abort).
 * What these tests prove is the manager's part: which signal the runner gets, when, and what the state table
 * says. The real runner with the real driver is exercised by the driver's end-to-end tests.
 *
 * Slot and record are created with the control plane's own functions (acquireSlot/activateSlot, requestDrain),
 * so the manager is tested against the writes it really meets in production.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import type { ControlPlaneDeps } from "../../src/control-plane/deps.js";
import { requestDrain } from "../../src/control-plane/idle-stop.js";
import { readSlot } from "../../src/state/slots.js";
import { type ManagerItem, taskIdOf } from "../../src/state/table.js";
import {
  createStateTable,
  documentClient,
  fakeTaskArn,
  managerBundle,
  offerJob,
  type RunningManager,
  readRecord,
  readSlotItem,
  runnerEvents,
  scaleUpSlot,
  startManager,
  TEST_TOKEN,
  waitFor,
} from "./support.js";

const table = `sgr-manager-drain-${randomBytes(4).toString("hex")}`;
const db = documentClient();
let runnerCount = 0;
const uniqueRunner = () => `mgr-${++runnerCount}-${randomBytes(3).toString("hex")}`;

/** The scheduler's idle drain, through the control plane's own function. */
async function schedulerDrain(runner: string, taskArn: string): Promise<boolean> {
  const deps = { db, resources: { stateTableName: table } } as unknown as ControlPlaneDeps;
  const manager = (await readRecord(db, table, runner, taskArn)) as unknown as ManagerItem;
  const slot = await readSlot({ db, tableName: table }, runner);
  return requestDrain(deps, runner, manager, slot, "idle", Date.now());
}

const recordState = async (runner: string, taskArn: string) =>
  (await readRecord(db, table, runner, taskArn))?.state;

beforeAll(async () => {
  await createStateTable(table);
  await managerBundle();
}, 120_000);

describe("manager container (stand-in gitlab-runner)", () => {
  it("writes config.toml and the system id, marks RUNNING, heartbeats, and never hands the token around", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    const manager = await startManager({ table, runner, taskArn, drainPollMs: 200, heartbeatMs: 200 });

    await waitFor("record RUNNING", async () => (await recordState(runner, taskArn)) === "RUNNING");
    const first = (await readRecord(db, table, runner, taskArn))?.heartbeatAt as number;
    await waitFor("a later heartbeat", async () => {
      const beat = (await readRecord(db, table, runner, taskArn))?.heartbeatAt as number;
      return beat > first ? beat : undefined;
    });

    const config = parse(readFileSync(join(manager.runnerHome, "config.toml"), "utf8")) as {
      runners: { name: string; token: string; executor: string }[];
    };
    expect(config.runners[0]).toMatchObject({ name: runner, token: TEST_TOKEN, executor: "custom" });
    expect(statSync(join(manager.runnerHome, "config.toml")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(manager.runnerHome, ".runner_system_id"), "utf8")).toMatch(/^s_[0-9a-f]{12}$/);

    const start = runnerEvents(manager.runnerDir).find((e) => e.event === "start");
    expect(start?.args).toEqual([
      "run",
      "--config",
      join(manager.runnerHome, "config.toml"),
      "--working-directory",
      manager.runnerHome,
    ]);
    expect(start?.tokenInEnvironment).toBe(false);
    // What the driver tags job tasks with and keys its job counting by.
    expect(start?.managerTaskId).toBe(taskIdOf(taskArn));

    manager.process.kill("SIGTERM");
    expect((await manager.exited).code).toBe(0);
    expect(manager.output()).not.toContain(TEST_TOKEN);
    expect(manager.output()).toContain('"service":"sgr-manager"');
  });

  it("SIGTERM (ECS stop, Spot reclaim) becomes SIGQUIT: the running job finishes, the slot is freed, the record ends STOPPED", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    const manager = await startManager({ table, runner, taskArn, drainPollMs: 200, heartbeatMs: 200 });
    await waitFor("record RUNNING", async () => (await recordState(runner, taskArn)) === "RUNNING");

    offerJob(manager.runnerDir, "job-1", 1500);
    await waitFor("job-1 assigned", () =>
      runnerEvents(manager.runnerDir).find((e) => e.event === "assigned"),
    );
    manager.process.kill("SIGTERM");

    const exit = await manager.exited;
    // The slot was freed at the drain (a new pending job starts a new manager at once), not left to a liveness check.
    expect(await readSlotItem(db, table, runner)).toBeUndefined();
    const events = runnerEvents(manager.runnerDir);
    const signals = events.filter((e) => e.event === "signal").map((e) => e.signal);
    expect(signals).toEqual(["SIGQUIT"]);
    expect(events.some((e) => e.event === "aborted")).toBe(false);
    const finished = events.find((e) => e.event === "finished" && e.job === "job-1");
    expect(finished).toBeDefined();
    expect(finished!.t).toBeLessThanOrEqual(exit.at);
    expect(exit.code).toBe(0);

    const record = await readRecord(db, table, runner, taskArn);
    expect(record).toMatchObject({
      state: "STOPPED",
      drainReason: "received SIGTERM",
      stopReason: "gitlab-runner exited with code 0",
    });
    expect(manager.output()).not.toContain(TEST_TOKEN);
  });

  /** Common end of both race cases: the job ran to its end under a graceful drain, then the manager exited. */
  async function expectJobCompletedUnderDrain(manager: RunningManager, job: string, durationMs: number) {
    const exit = await manager.exited;
    const events = runnerEvents(manager.runnerDir);
    const assigned = events.find((e) => e.event === "assigned" && e.job === job);
    const quit = events.find((e) => e.event === "signal");
    const finished = events.find((e) => e.event === "finished" && e.job === job);
    expect(assigned).toBeDefined();
    expect(quit?.signal).toBe("SIGQUIT");
    expect(finished).toBeDefined();
    expect(finished!.t).toBeGreaterThanOrEqual(assigned!.t + durationMs - 5);
    expect(finished!.t).toBeLessThanOrEqual(exit.at);
    expect(events.some((e) => e.event === "aborted")).toBe(false);
    expect(exit.code).toBe(0);
    return { assigned: assigned!, quit: quit! };
  }

  it("the scheduler's DRAINING reaches gitlab-runner as SIGQUIT; a job assigned just before it completes", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    const manager = await startManager({ table, runner, taskArn, drainPollMs: 300, heartbeatMs: 300 });
    await waitFor("record RUNNING", async () => (await recordState(runner, taskArn)) === "RUNNING");

    offerJob(manager.runnerDir, "just-before", 1500);
    await waitFor("job assigned", () => runnerEvents(manager.runnerDir).find((e) => e.event === "assigned"));
    expect(await schedulerDrain(runner, taskArn)).toBe(true);

    await expectJobCompletedUnderDrain(manager, "just-before", 1500);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      drainReason: "idle",
    });
  });

  it("a job assigned after DRAINING was written but before the manager saw it still completes", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    // The first poll comes 5 s after start (RUNNING is written at start, not by a poll): the drain below lands
    // well inside that window, so the job is certainly taken while the table says DRAINING and the runner
    // has not been told yet.
    const manager = await startManager({ table, runner, taskArn, drainPollMs: 5000, heartbeatMs: 10_000 });
    await waitFor("record RUNNING", async () => (await recordState(runner, taskArn)) === "RUNNING");

    const drainWrittenAt = Date.now();
    expect(await schedulerDrain(runner, taskArn)).toBe(true);
    offerJob(manager.runnerDir, "in-window", 1000);

    const { assigned, quit } = await expectJobCompletedUnderDrain(manager, "in-window", 1000);
    // Taken inside the window: after the drain was written, before the runner heard of it.
    expect(assigned.t).toBeGreaterThanOrEqual(drainWrittenAt);
    expect(assigned.t).toBeLessThan(quit.t);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      drainReason: "idle",
    });
  });

  it("a manager drained before gitlab-runner started does not start it", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    expect(await schedulerDrain(runner, taskArn)).toBe(true);
    const manager = await startManager({ table, runner, taskArn, drainPollMs: 200, heartbeatMs: 200 });
    const exit = await manager.exited;
    expect(exit.code).toBe(0);
    expect(runnerEvents(manager.runnerDir)).toEqual([]);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      stopReason: "drained before start",
    });
  });

  it("starts before scale-up has written its record, and never creates the record itself", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    const manager = await startManager({ table, runner, taskArn, drainPollMs: 100, heartbeatMs: 100 });
    await waitFor("gitlab-runner started", () =>
      runnerEvents(manager.runnerDir).find((e) => e.event === "start"),
    );
    await new Promise((r) => setTimeout(r, 400));
    // Creating it would make scale-up's `attribute_not_exists` activation fail, and scale-up would stop this task.
    expect(await readRecord(db, table, runner, taskArn)).toBeUndefined();

    await scaleUpSlot(db, table, runner, taskArn);
    await waitFor("record RUNNING", async () => (await recordState(runner, taskArn)) === "RUNNING");
    manager.process.kill("SIGINT");
    expect((await manager.exited).code).toBe(0);
    expect(
      runnerEvents(manager.runnerDir)
        .filter((e) => e.event === "signal")
        .map((e) => e.signal),
    ).toEqual(["SIGQUIT"]);
    expect(await recordState(runner, taskArn)).toBe("STOPPED");
  });

  it("exits with gitlab-runner's own exit code when the runner stops by itself, and records why", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    const manager = await startManager({
      table,
      runner,
      taskArn,
      drainPollMs: 200,
      heartbeatMs: 200,
      extraEnv: { FAKE_RUNNER_CRASH_CODE: "3", FAKE_RUNNER_CRASH_AFTER_MS: "300" },
    });
    expect((await manager.exited).code).toBe(3);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      stopReason: "gitlab-runner exited with code 3",
    });
  });

  it("reports a gitlab-runner that cannot be started as exit code 127", async () => {
    const runner = uniqueRunner();
    const taskArn = fakeTaskArn();
    await scaleUpSlot(db, table, runner, taskArn);
    const manager = await startManager({
      table,
      runner,
      taskArn,
      extraEnv: { SGR_GITLAB_RUNNER_BIN: "/nonexistent/gitlab-runner" },
    });
    expect((await manager.exited).code).toBe(127);
    expect(manager.output()).toContain("cannot start /nonexistent/gitlab-runner");
    expect(await recordState(runner, taskArn)).toBe("STOPPED");
  });

  it("refuses to start on a bad environment, naming what is wrong and not leaking the token", async () => {
    const runner = uniqueRunner();
    const cases: [Record<string, string | undefined>, RegExp][] = [
      [{ RUNNER_TOKEN: undefined }, /RUNNER_TOKEN is not set/],
      [{ SGR_CONFIG: '{"gitlab":{"url":"nope"},"runners":[]}' }, /gitlab\.url/],
      [{ SGR_RUNNER_NAME: "other" }, /SGR_RUNNER_NAME='other' is not a runner/],
      [{ SGR_TASK_ARN: undefined, ECS_CONTAINER_METADATA_URI_V4: undefined }, /cannot tell which task/],
    ];
    for (const [extraEnv, message] of cases) {
      const manager = await startManager({ table, runner, taskArn: fakeTaskArn(), extraEnv });
      const exit = await manager.exited;
      expect(exit.code, String(message)).toBe(1);
      expect(manager.output()).toMatch(message);
      expect(manager.output()).not.toContain(TEST_TOKEN);
      expect(runnerEvents(manager.runnerDir)).toEqual([]);
    }
  });
});
