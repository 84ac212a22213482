/**
 * Test harness for the manager container: a state table in moto, the manager bundle built with the image's
 * esbuild settings, and the manager started as a real process with a stand-in gitlab-runner
 * (fixtures/fake-gitlab-runner.mjs — NOT the real runner; it only mimics the runner's signal semantics).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { buildManagerBundle } from "../../scripts/build-images.js";
import { acquireSlot, activateSlot } from "../../src/state/slots.js";
import { managerSk, runnerPk, SLOT_SK, taskIdOf } from "../../src/state/table.js";
import { requireTool } from "../support/tools.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
export const FAKE_RUNNER = join(FIXTURES, "fake-gitlab-runner.mjs");
/** A custom executor that runs the job's script in a shell: the real runner's jobs without our driver. */
const SHELL_EXECUTOR = join(FIXTURES, "shell-executor.sh");
const GITLAB_RUNNER = "gitlab-runner/19.4.0/gitlab-runner";

export { createStateTable } from "../support/state-table.js";

/** A token-shaped secret that must never show up in any output. */
export const TEST_TOKEN = `glrt-${randomBytes(12).toString("hex")}`;

export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}));
}

export function fakeTaskArn(): string {
  return `arn:aws:ecs:us-east-1:123456789012:task/sgr-test/${randomBytes(16).toString("hex")}`;
}

/** What scale-up does before the manager task starts: slot taken and activated, record STARTING at `atMs`. */
export async function scaleUpSlot(
  db: DynamoDBDocumentClient,
  table: string,
  runner: string,
  taskArn: string,
  atMs = Date.now(),
): Promise<void> {
  const store = { db, tableName: table };
  const acquired = await acquireSlot(store, runner, atMs);
  if (!acquired.acquired) throw new Error(`the slot of ${runner} is taken`);
  const task = { taskArn, capacity: "FARGATE" };
  if (!(await activateSlot(store, runner, acquired.slot.ownerToken, task, atMs)))
    throw new Error(`the slot of ${runner} could not be activated`);
}

/** The manager's environment for the REAL gitlab-runner (scripts/install-gitlab-runner.sh) and the shell executor. */
export function realRunnerEnv(): Record<string, string> {
  // Executed directly by gitlab-runner: make sure a checkout without modes still works.
  chmodSync(SHELL_EXECUTOR, 0o755);
  return {
    SGR_GITLAB_RUNNER_BIN: requireTool(GITLAB_RUNNER, "gitlab-runner (scripts/install-gitlab-runner.sh)"),
    SGR_DRIVER_EXECUTABLE: SHELL_EXECUTOR,
  };
}

export async function readRecord(db: DynamoDBDocumentClient, table: string, runner: string, taskArn: string) {
  const out = await db.send(
    new GetCommand({
      TableName: table,
      Key: { pk: runnerPk(runner), sk: managerSk(taskIdOf(taskArn)) },
      ConsistentRead: true,
    }),
  );
  return out.Item as Record<string, unknown> | undefined;
}

export async function readSlotItem(db: DynamoDBDocumentClient, table: string, runner: string) {
  const out = await db.send(
    new GetCommand({ TableName: table, Key: { pk: runnerPk(runner), sk: SLOT_SK }, ConsistentRead: true }),
  );
  return out.Item as Record<string, unknown> | undefined;
}

let bundlePromise: Promise<string> | undefined;
/** The manager bundle, built once per test file, exactly as the image's build stage builds it. */
export function managerBundle(): Promise<string> {
  bundlePromise ??= (async () => {
    // Executed directly, as the manager execs gitlab-runner: make sure a checkout without modes still works.
    chmodSync(FAKE_RUNNER, 0o755);
    const out = join(mkdtempSync(join(tmpdir(), "sgr-manager-bundle-")), "manager.mjs");
    await buildManagerBundle(out);
    return out;
  })();
  return bundlePromise;
}

export interface RunningManager {
  process: ChildProcess;
  /** Where the fake runner reads jobs and writes events. */
  runnerDir: string;
  runnerHome: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export interface ManagerEnvOptions {
  table: string;
  runner: string;
  taskArn: string;
  drainPollMs?: number;
  heartbeatMs?: number;
  extraEnv?: Record<string, string | undefined>;
}

export function managerEnv(
  options: ManagerEnvOptions,
  runnerDir: string,
  runnerHome: string,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // The fake runner is a node script: make sure `node` is the one running the tests.
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
    SGR_CONFIG: JSON.stringify({
      gitlab: { url: "https://gitlab.example.com" },
      runners: [{ name: options.runner, tags: ["fargate"], concurrent: 4 }],
    }),
    SGR_RESOURCES: JSON.stringify({
      eventBusName: "bus",
      stateTableName: options.table,
      clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/sgr-test",
      subnetIds: ["subnet-1"],
      managerSecurityGroupIds: ["sg-1"],
      managerTaskDefinitions: { [options.runner]: "sgr-manager" },
      cacheBucketName: "sgr-cache-test",
    }),
    SGR_RUNNER_NAME: options.runner,
    RUNNER_TOKEN: TEST_TOKEN,
    SGR_TASK_ARN: options.taskArn,
    SGR_RUNNER_HOME: runnerHome,
    SGR_GITLAB_RUNNER_BIN: FAKE_RUNNER,
    SGR_DRAIN_POLL_MS: String(options.drainPollMs ?? 10_000),
    SGR_HEARTBEAT_MS: String(options.heartbeatMs ?? 30_000),
    FAKE_RUNNER_DIR: runnerDir,
    ...options.extraEnv,
  };
}

export async function startManager(options: ManagerEnvOptions): Promise<RunningManager> {
  const bundle = await managerBundle();
  const runnerDir = mkdtempSync(join(tmpdir(), "sgr-fake-runner-"));
  const runnerHome = mkdtempSync(join(tmpdir(), "sgr-runner-home-"));
  const child = spawn(process.execPath, [bundle], {
    env: managerEnv(options, runnerDir, runnerHome),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { process: child, runnerDir, runnerHome, output: () => output, exited };
}

export interface RunnerEvent {
  event: string;
  t: number;
  job?: string;
  signal?: string;
  code?: number;
  tokenInEnvironment?: boolean;
  managerTaskId?: string;
  customExecutor?: boolean;
  args?: string[];
}

export function runnerEvents(runnerDir: string): RunnerEvent[] {
  const file = join(runnerDir, "events.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RunnerEvent);
}

/** "GitLab" offers a job: the fake runner picks it up within ~20 ms unless it is draining. */
export function offerJob(runnerDir: string, job: string, durationMs: number): void {
  const staged = join(runnerDir, `offer-${job}`);
  writeFileSync(staged, String(durationMs));
  mkdirSync(join(runnerDir, "queue"), { recursive: true });
  // A rename, so the runner never reads a half-written file.
  renameSync(staged, join(runnerDir, "queue", job));
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
