/**
 * Webhook figures, measured side by side in one run:
 * - cold import: `node -e "await import(<bundle>)"` for every Lambda bundle against an empty `node -e ""`,
 *   spawned alternately BENCH_COLD_RUNS times (default 31); medians of wall time and of the child's own CPU
 *   time (the latter is steadier on a shared machine). Goal for the webhook: ≤ 80 ms more than the empty
 *   process; the other functions' figures are reported.
 * - warm handler self-time: the real handler (Powertools logger and metrics included, output discarded) with
 *   every AWS call answered in-process by fakes; p50/p99 over 5,000 signed deliveries. Goal p99 ≤ 2 ms.
 * - the size of every Lambda bundle that exists.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { bundleFunctions, ROOT } from "../scripts/bundle.js";
import { BUNDLE_OPTIONS } from "../src/functions/catalog.js";
import { createLogger } from "../src/observability/logger.js";
import { createWebhookHandler } from "../src/webhook/app.js";
import { powertoolsDeliveryMetrics } from "../src/webhook/metrics.js";
import { jobHook, pipelineHook } from "../test/webhook/fixtures/payloads.js";
import { fakeWorld, NOW_MS, SIGNING_KEY } from "../test/webhook/support/fakes.js";
import { functionUrlEvent } from "../test/webhook/support/requests.js";
import { type BenchRow, type BenchSuite, median, percentile } from "./types.js";

const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 31);
const WARM_RUNS = 5000;
const WARM_UP = 1000;

/** An environment like Lambda's: valid configuration, region and (fake) credentials. */
const lambdaLikeEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "AKIDBENCH",
  AWS_SECRET_ACCESS_KEY: "bench-secret",
  AWS_SESSION_TOKEN: "bench-session",
  SGR_CONFIG: JSON.stringify({
    gitlab: { url: "https://gitlab.example.com" },
    runners: [{ name: "default", tags: ["a"] }],
  }),
  SGR_RESOURCES: JSON.stringify({
    eventBusName: "bus",
    stateTableName: "table",
    clusterArn: "cluster",
    subnetIds: ["subnet-1"],
    managerSecurityGroupIds: ["sg-1"],
    managerTaskDefinitions: { default: "mgr" },
    deadLetterQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
  }),
};

interface ChildRun {
  wallMs: number;
  cpuMs: number;
}

function spawnNode(code: string): ChildRun {
  const started = performance.now();
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    env: lambdaLikeEnv,
    encoding: "utf8",
  });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`child failed (${child.status}): ${child.stderr}`);
  const usage = JSON.parse(child.stdout.trim().split("\n").pop()!) as { user: number; system: number };
  return { wallMs, cpuMs: (usage.user + usage.system) / 1000 };
}

/**
 * For comparison only: the AWS SDK v3 clients the webhook would need without its lean client (SSM,
 * DynamoDB, EventBridge), bundled alone with the same options.
 */
async function buildSdkComparisonBundle(): Promise<string> {
  const outfile = join(mkdtempSync(join(tmpdir(), "sgr-bench-")), "sdk-clients.mjs");
  const { banner, mainFields, ...options } = BUNDLE_OPTIONS;
  await build({
    ...options,
    mainFields: [...mainFields],
    banner: { js: banner },
    logLevel: "warning",
    outfile,
    stdin: {
      contents: [
        'import { SSMClient } from "@aws-sdk/client-ssm";',
        'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";',
        'import { EventBridgeClient } from "@aws-sdk/client-eventbridge";',
        "globalThis.clients = [new SSMClient({}), new DynamoDBClient({}), new EventBridgeClient({})];",
      ].join("\n"),
      resolveDir: ROOT,
      loader: "js",
    },
  });
  return outfile;
}

/** A built bundle whose cold import is measured. */
interface ColdTarget {
  name: string;
  outfile: string;
}

function coldImport(targets: readonly ColdTarget[], comparisonPath: string): BenchRow[] {
  // Both sides report through stdout, so both pay for setting the streams up; they are touched first so
  // the CPU figure compares module work only (Lambda's runtime has its streams up before the import).
  const prelude = "process.stdout; process.stderr; const before = process.cpuUsage();";
  const report = "process.stdout.write('\\n' + JSON.stringify(process.cpuUsage(before)))";
  const importOf = (path: string) =>
    `${prelude} await import(${JSON.stringify(pathToFileURL(path).href)}); ${report}`;
  const empty: ChildRun[] = [];
  const runs = new Map<string, ChildRun[]>(targets.map((target) => [target.name, []]));
  const sdk: ChildRun[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    // Interleaved so machine load drifts affect every side alike.
    empty.push(spawnNode(`${prelude} ${report}`));
    for (const target of targets) runs.get(target.name)!.push(spawnNode(importOf(target.outfile)));
    sdk.push(spawnNode(importOf(comparisonPath)));
  }
  const emptyWall = median(empty.map((r) => r.wallMs));
  const emptyCpu = median(empty.map((r) => r.cpuMs));
  const rows: BenchRow[] = [
    { metric: `cold start, empty node (median wall, n=${COLD_RUNS})`, value: `${emptyWall.toFixed(1)} ms` },
  ];
  for (const target of targets) {
    const samples = runs.get(target.name)!;
    const wall = median(samples.map((r) => r.wallMs));
    const extraWall = wall - emptyWall;
    const extraCpu = median(samples.map((r) => r.cpuMs)) - emptyCpu;
    if (target.name === "webhook") {
      rows.push(
        {
          metric: `cold start, node + webhook bundle (median wall, n=${COLD_RUNS})`,
          value: `${wall.toFixed(1)} ms`,
        },
        {
          metric: "cold import cost of the webhook (wall, bundle − empty)",
          value: `${extraWall.toFixed(1)} ms`,
          goal: "≤ 80 ms",
          met: extraWall <= 80,
        },
        {
          metric: "cold import of the webhook bundle (median CPU time of the import itself)",
          value: `${extraCpu.toFixed(1)} ms`,
        },
      );
    } else {
      rows.push({
        metric: `cold import cost of ${target.name} (wall / CPU, bundle − empty)`,
        value: `${extraWall.toFixed(1)} / ${extraCpu.toFixed(1)} ms`,
      });
    }
  }
  rows.push({
    metric: "for comparison: SDK v3 SSM+DynamoDB+EventBridge clients alone (wall / CPU)",
    value: `${(median(sdk.map((r) => r.wallMs)) - emptyWall).toFixed(1)} / ${(median(sdk.map((r) => r.cpuMs)) - emptyCpu).toFixed(1)} ms`,
  });
  return rows;
}

async function warmHandler(): Promise<BenchRow[]> {
  // Wired like handler.ts (Powertools logger and metrics), with the AWS calls answered by fakes.
  const { metrics, flush } = powertoolsDeliveryMetrics("webhook-bench");
  const world = fakeWorld({ metrics });
  const handler = createWebhookHandler(() => world.deps, createLogger("webhook-bench"), flush);
  const body = JSON.stringify(jobHook("pending"));
  const events = Array.from({ length: WARM_UP + WARM_RUNS }, () =>
    functionUrlEvent(body, NOW_MS, { signingKey: SIGNING_KEY, idempotencyKey: randomUUID() }),
  );
  const pipelineBody = JSON.stringify(
    pipelineHook(Array.from({ length: 20 }, (_, i) => ({ id: 1 + i, status: "pending" }))),
  );
  const pipelineEvents = Array.from({ length: 1000 }, () =>
    functionUrlEvent(pipelineBody, NOW_MS, { idempotencyKey: randomUUID() }),
  );

  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write; // keep the logger's work, drop its output
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  const pipelineSamples: number[] = [];
  try {
    for (const [index, event] of events.entries()) {
      // The fakes answer in microtasks, so the call's CPU time is its self-time without the waits a
      // shared machine adds (preemption); wall time is reported too.
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const response = await handler(event);
      const elapsed = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      if (response.statusCode !== 202) throw new Error(`unexpected ${response.statusCode} ${response.body}`);
      if (index >= WARM_UP) {
        samples.push(elapsed);
        cpuSamples.push((cpu.user + cpu.system) / 1000);
      }
    }
    for (const event of pipelineEvents) {
      const started = performance.now();
      await handler(event);
      pipelineSamples.push(performance.now() - started);
    }
  } finally {
    process.stdout.write = write;
  }
  samples.sort((a, b) => a - b);
  cpuSamples.sort((a, b) => a - b);
  pipelineSamples.sort((a, b) => a - b);
  const p99 = percentile(samples, 99);
  return [
    {
      metric: "warm Job Hook, handler CPU time per call p50 / p99",
      value: `${percentile(cpuSamples, 50).toFixed(3)} / ${percentile(cpuSamples, 99).toFixed(3)} ms`,
    },
    {
      metric: `warm Job Hook, handler self-time p50 (n=${WARM_RUNS}, signed + token)`,
      value: `${percentile(samples, 50).toFixed(3)} ms`,
    },
    {
      metric: `warm Job Hook, handler self-time p99 (n=${WARM_RUNS}, signed + token)`,
      value: `${p99.toFixed(3)} ms`,
      goal: "≤ 2 ms",
      met: p99 <= 2,
    },
    {
      metric: "warm Pipeline Hook (20 builds → 2 PutEvents), p50 / p99",
      value: `${percentile(pipelineSamples, 50).toFixed(3)} / ${percentile(pipelineSamples, 99).toFixed(3)} ms`,
    },
  ];
}

const suite: BenchSuite = {
  name: "webhook",
  async run() {
    const bundles = await bundleFunctions();
    const rows: BenchRow[] = [
      {
        metric: "machine: CPUs, load average (1 min) at start",
        value: `${availableParallelism()}, ${loadavg()[0]!.toFixed(2)}`,
      },
    ];
    const built = bundles.flatMap((b) =>
      b.status === "built" ? [{ name: b.name, outfile: b.outfile }] : [],
    );
    if (!built.some((b) => b.name === "webhook")) throw new Error("the webhook bundle was not built");
    rows.push(...coldImport(built, await buildSdkComparisonBundle()));
    rows.push(...(await warmHandler()));
    for (const bundle of bundles) {
      rows.push(
        bundle.status === "built"
          ? { metric: `bundle size: ${bundle.name}`, value: `${(bundle.bytes / 1024).toFixed(1)} KiB` }
          : { metric: `bundle size: ${bundle.name}`, value: `skipped (${bundle.reason})` },
      );
    }
    return rows;
  },
};
export default suite;
