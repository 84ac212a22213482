/**
 * The manager's queue-to-start metric ("manager running") as CloudWatch would receive it: an EMF line on the
 * manager's stdout, once per manager, counted from scale-up's start request (the record's startedAt). Also: the
 * driver daemon's log (where its own EMF lines go) is copied into the manager's stdout.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { EmfDocument } from "../../src/observability/emf.js";
import { emfLine } from "../../src/observability/emf.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { type ManagerRecordRef, markRunning } from "../../src/state/manager-record.js";
import {
  createStateTable,
  documentClient,
  fakeTaskArn,
  managerBundle,
  readRecord,
  scaleUpSlot,
  startManager,
  waitFor,
} from "./support.js";

const table = `sgr-manager-metrics-${randomBytes(4).toString("hex")}`;
const db = documentClient();
let n = 0;

/** scale-up's writes: slot activated, record STARTING with startedAt = requestedAtMs. */
async function scaleUp(requestedAtMs: number): Promise<ManagerRecordRef> {
  const runnerName = `met-${++n}-${randomBytes(3).toString("hex")}`;
  const taskArn = fakeTaskArn();
  await scaleUpSlot(db, table, runnerName, taskArn, requestedAtMs);
  return { db, tableName: table, runnerName, taskArn };
}

function emfDocs(output: string, metric: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes(`"${metric}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  await createStateTable(table);
  await managerBundle();
}, 120_000);

describe("manager running metric", () => {
  it("marking RUNNING reports scale-up's start request exactly once, on the STARTING → RUNNING write", async () => {
    const requestedAt = Date.now() - 42_000;
    const ref = await scaleUp(requestedAt);
    const seen: (number | undefined)[] = [];
    expect(await markRunning(ref, Date.now(), (at) => seen.push(at))).toBe("RUNNING");
    expect(await markRunning(ref, Date.now(), (at) => seen.push(at))).toBe("RUNNING");
    expect(seen).toEqual([requestedAt]);
  });

  it("the manager process writes one EMF line (service=manager) and forwards the driver daemon's log", async () => {
    const requestedAt = Date.now() - 3_000;
    const ref = await scaleUp(requestedAt);
    const socketDir = mkdtempSync(join(tmpdir(), "sgr-manager-metrics-sock-"));
    const socketPath = join(socketDir, "run", "daemon.sock");
    const manager = await startManager({
      table,
      runner: ref.runnerName,
      taskArn: ref.taskArn,
      drainPollMs: 100,
      heartbeatMs: 100,
      extraEnv: { SGR_DRIVER_SOCKET: socketPath },
    });
    await waitFor(
      "record RUNNING",
      async () => (await readRecord(db, table, ref.runnerName, ref.taskArn))?.state === "RUNNING",
    );
    const runningAt = Date.now();
    // What the driver daemon (started detached by gitlab-runner's first stage) appends to <socket>.log.
    mkdirSync(join(socketDir, "run"), { recursive: true });
    const daemonMetric = emfLine(
      "manager",
      { name: METRICS.jobTaskRunningSeconds, value: 7.5, unit: "Seconds" },
      Date.now(),
      { jobId: "99" },
    );
    appendFileSync(`${socketPath}.log`, daemonMetric);
    // Several polls and heartbeats later, still one metric line.
    await new Promise((r) => setTimeout(r, 1_500));
    manager.process.kill("SIGTERM");
    expect((await manager.exited).code).toBe(0);

    const output = manager.output();
    const docs = emfDocs(output, METRICS.managerStartToRunningSeconds);
    expect(docs).toHaveLength(1);
    const doc = docs[0] as EmfDocument & { ManagerStartToRunningSeconds: number; managerTaskId: string };
    expect(doc._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: "ServerlessGitlabRunner",
        Dimensions: [["service"]],
        Metrics: [{ Name: "ManagerStartToRunningSeconds", Unit: "Seconds" }],
      },
    ]);
    expect(doc.service).toBe("manager");
    expect(doc.managerTaskId).toBe(ref.taskArn.split("/").pop());
    // At least the 3 s since the start request, at most that plus the time until RUNNING was seen.
    expect(doc.ManagerStartToRunningSeconds).toBeGreaterThanOrEqual(3);
    expect(doc.ManagerStartToRunningSeconds).toBeLessThanOrEqual((runningAt - requestedAt) / 1000);
    expect(doc._aws.Timestamp).toBeGreaterThan(requestedAt);

    // The daemon's line reached the manager's stdout whole, exactly once.
    expect(output.split("\n").filter((l) => `${l}\n` === daemonMetric)).toHaveLength(1);
  }, 30_000);
});
