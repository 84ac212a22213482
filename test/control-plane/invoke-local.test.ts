/**
 * The handlers as a user runs them by hand: `tsx scripts/invoke-local.ts <fn> <event> --endpoint …` against
 * moto with the sample events of examples/events/. Covers the thin handlers end to end (env config,
 * SDK clients from AWS_ENDPOINT_URL, Powertools metrics on stdout, a thrown error → exit code 1).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResources } from "../../src/config/index.js";
import { acquireSchedulerLease } from "../../src/state/lease.js";
import { runCommand } from "../support/run-command.js";
import { createFixture, type Fixture, type PrivateMoto, startPrivateMoto } from "./harness.js";

const repo = resolve(import.meta.dirname, "../..");
let moto: PrivateMoto;
let f: Fixture;
let dir: string;

beforeAll(async () => {
  moto = await startPrivateMoto();
  f = await createFixture(moto.endpoint, {
    runners: [{ name: "default", tags: ["fargate"], runUntagged: true }],
  });
  dir = mkdtempSync(join(tmpdir(), "sgr-invoke-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify(f.config));
  writeFileSync(join(dir, "resources.json"), JSON.stringify(f.resources));
});
afterAll(() => moto?.moto.stop());

async function invoke(fn: string, eventFile: string) {
  const out = await runCommand(
    join(repo, "node_modules/.bin/tsx"),
    [
      "scripts/invoke-local.ts",
      fn,
      eventFile,
      "--endpoint",
      moto.endpoint,
      "--config",
      join(dir, "config.json"),
      "--resources",
      join(dir, "resources.json"),
    ],
    {
      cwd: repo,
      env: { ...process.env, AWS_ENDPOINT_URL: "", POWERTOOLS_DEV: "" },
      timeout: 60_000,
    },
  );
  const marker = out.stdout.indexOf("--- result ---");
  const result = marker >= 0 ? JSON.parse(out.stdout.slice(marker + "--- result ---".length)) : undefined;
  return { status: out.status, stdout: out.stdout, stderr: out.stderr, result };
}

describe("scripts/invoke-local.ts", () => {
  it("scale-up with the sample pending-job event starts a manager in moto", async () => {
    const run = await invoke("scale-up", "examples/events/pending-job.json");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.result).toMatchObject({ action: "started", runner: "default" });
    expect(run.stdout).toContain('"ManagerStarted"'); // embedded-metric-format line from Powertools
  });

  it("job-status records pending then running and emits both queue-to-start metrics", async () => {
    expect((await invoke("job-status", "examples/events/pending-job.json")).result).toEqual({
      outcome: "recorded",
    });
    const running = await invoke("job-status", "examples/events/job-running.json");
    expect(running.result).toEqual({ outcome: "recorded" });
    expect(running.stdout).toMatch(/"JobQueuedSeconds":19\.2/);
    expect(running.stdout).toMatch(/"JobPendingToRunningSeconds":20\b/);
  });

  it("scheduler runs one period with the sample scheduled event", async () => {
    const run = await invoke("scheduler", "examples/events/scheduled.json");
    expect(run.status).toBe(0);
    expect(run.result.errors).toEqual([]);
    expect(run.result.reviews[0].decisions).toHaveLength(1);
    // The driver's janitor ran too, and left the manager alone (it only stops job tasks).
    expect(run.result.janitor).toMatchObject({ stoppedTasks: [], errors: [] });
    expect(await f.runningManagers("default")).toHaveLength(1);
  });

  it("scheduler skips its period while another one holds the lease, and runs once it is released", async () => {
    const other = await acquireSchedulerLease(
      { db: f.clients.db, tableName: f.resources.stateTableName },
      Date.now(),
      60_000,
    );
    expect(other).toBeDefined();
    const skipped = await invoke("scheduler", "examples/events/scheduled.json");
    expect(skipped.status).toBe(0);
    expect(skipped.result).toEqual({ skipped: "another scheduler period is still running" });
    await other!.release();
    const ran = await invoke("scheduler", "examples/events/scheduled.json");
    expect(ran.result.errors).toEqual([]);
  });

  it("a malformed event makes the handler throw (exit 1) with a message naming the field", async () => {
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ detail: { status: "pending", projectId: "x" } }));
    const run = await invoke("scale-up", join(dir, "bad.json"));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/invalid job event: detail\.projectId/);
  });

  it("exits 1 when the handler answers a 5xx, printing the answer", async () => {
    const badConfig = { ...f.config, ssm: { ...f.config.ssm, webhookSecretParameter: "no-leading-slash" } };
    writeFileSync(join(dir, "bad-config.json"), JSON.stringify(badConfig));
    const run = await runCommand(
      join(repo, "node_modules/.bin/tsx"),
      [
        "scripts/invoke-local.ts",
        "webhook",
        "examples/events/webhook-job-pending.json",
        "--endpoint",
        moto.endpoint,
        "--config",
        join(dir, "bad-config.json"),
        "--resources",
        join(dir, "resources.json"),
      ],
      { cwd: repo, env: { ...process.env, AWS_ENDPOINT_URL: "" }, timeout: 60_000 },
    );
    expect(run.stdout).toMatch(/"statusCode": 500/);
    expect(run.stderr).toContain("--- handler answered 500 ---");
    expect(run.status).toBe(1);
  });

  it("refuses an unknown function name", async () => {
    const run = await invoke("nope", "examples/events/scheduled.json");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/unknown function 'nope'/);
  });
});

describe("npm run invoke -- --local", () => {
  async function invokeLocal(fn: string, eventFile: string) {
    const out = await runCommand(
      join(repo, "node_modules/.bin/tsx"),
      ["scripts/invoke-local.ts", "--local", fn, eventFile, "--config", "config/example.json"],
      {
        cwd: repo,
        // Nothing from the caller's AWS setup: --local brings its own moto, credentials and region.
        env: { ...process.env, AWS_ENDPOINT_URL: "", AWS_REGION: "", POWERTOOLS_DEV: "" },
        timeout: 120_000,
      },
    );
    const marker = out.stdout.indexOf("--- result ---");
    const result = marker >= 0 ? JSON.parse(out.stdout.slice(marker + "--- result ---".length)) : undefined;
    return { status: out.status, stdout: out.stdout, stderr: out.stderr, result };
  }

  it("creates the whole stack in a moto of its own, writes the resources file, and runs the webhook", async () => {
    const run = await invokeLocal("webhook", "examples/events/webhook-job-pending.json");
    expect(run.status, run.stderr).toBe(0);
    expect(run.result).toMatchObject({ statusCode: 202 });
    // Accepted and published on the deployed bus, not dead-lettered.
    expect(run.stdout).toMatch(/"message":"delivery accepted".*"published":1/);
    expect(run.stderr).toContain("cdk.out/invoke-local/resources.json (schema: src/config/resources.ts)");
    const resources = parseResources(
      JSON.parse(readFileSync(join(repo, "cdk.out/invoke-local/resources.json"), "utf8")),
    );
    expect(resources.managerTaskDefinitions.default).toMatch(
      /:task-definition\/SgrLocal-manager-default:\d+$/,
    );
  });

  it("runs scale-up with the sample pending job: it starts the deployed manager task definition", async () => {
    const run = await invokeLocal("scale-up", "examples/events/pending-job.json");
    expect(run.status, run.stderr).toBe(0);
    expect(run.result).toMatchObject({ action: "started", runner: "default" });
  });
});
