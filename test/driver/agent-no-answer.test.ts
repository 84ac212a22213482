/**
 * A job task whose agent listens but never answers: prepare fails as a system failure after the wait, and its
 * message carries the end of the task's own log, so the job log says what the task was doing.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DriverDaemon, startDriverDaemon } from "../../src/driver/daemon/index.js";
import { ensureDriverBuilt } from "./support/build.js";
import { fakeJob, removeFakeJobDirs } from "./support/stage-runner.js";

let daemon: DriverDaemon;
let work: string;
let client: string;
let baseEnv: Record<string, string>;

beforeAll(async () => {
  client = ensureDriverBuilt().client;
  work = mkdtempSync(join(tmpdir(), "sgr-agent-silent-"));
  // Accepts connections and never says a word: what a wedged agent looks like from the driver.
  const silentAgent = join(work, "silent-agent.mjs");
  writeFileSync(
    silentAgent,
    `#!${process.execPath}
import { createServer } from "node:net";
import { writeFileSync } from "node:fs";
const held = [];
const server = createServer((socket) => held.push(socket)).listen(0, "127.0.0.1", () => {
  console.error("silent agent: listening, answering nobody");
  writeFileSync(process.env.SGR_AGENT_PORT_FILE, server.address().port + "\\n");
});
`,
    { mode: 0o755 },
  );
  const socketPath = join(work, "daemon.sock");
  daemon = await startDriverDaemon({ socketPath, agentBinary: silentAgent, agentWaitMs: 1000 });
  baseEnv = {
    SGR_DRIVER_SOCKET: socketPath,
    SGR_DRIVER_BACKEND: "local",
    SGR_LOCAL_DIR: join(work, "tasks"),
  };
});

afterAll(async () => {
  for (const job of daemon?.context.jobs.values() ?? []) await job.backend.stopTask(job.taskId, "teardown");
  await daemon?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  removeFakeJobDirs();
});

describe("an agent that never answers", () => {
  it("fails prepare as a system failure whose message ends with the task's log", async () => {
    const job = fakeJob({ client, baseEnv });
    expect((await job.stage(["config"])).code).toBe(0);
    const prepare = await job.stage(["prepare"]);
    expect(prepare.code, prepare.stdout).toBe(2);
    expect(prepare.stdout).toContain(
      "the job task's agent did not answer in time (timed out connecting to the agent)",
    );
    expect(prepare.stdout).toContain("the task's log ends with:");
    expect(prepare.stdout).toContain("silent agent: listening, answering nobody");
    // The failed task is not left running.
    expect(await (await daemon.context.backend(baseEnv)).describeTask(`local-local-${job.id}`)).toMatchObject(
      {
        state: "stopped",
      },
    );
  });
});
