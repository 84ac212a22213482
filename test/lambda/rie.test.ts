/**
 * Lambda bundles run as Lambda runs them: under aws-lambda-rie with our runtime interface client, with the
 * function's timeout and a Function URL in front. The webhook's real bundle answers real HTTP deliveries.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleFunctions } from "../../scripts/bundle.js";
import { startFunctionUrl } from "../support/lambda/function-url.js";
import { type LocalLambda, startLambda } from "../support/lambda/rie.js";
import { jobHook } from "../webhook/fixtures/payloads.js";
import { SECRET_TOKEN } from "../webhook/support/fakes.js";
import { createMotoWorld, drainQueue } from "../webhook/support/moto-world.js";

const lambdas: LocalLambda[] = [];
const dirs: string[] = [];

function taskRoot(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sgr-lambda-"));
  dirs.push(dir);
  writeFileSync(join(dir, "index.mjs"), source);
  return dir;
}

function track(lambda: LocalLambda): LocalLambda {
  lambdas.push(lambda);
  return lambda;
}

afterAll(async () => {
  await Promise.all(lambdas.map((l) => l.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("a Lambda under the runtime interface emulator", () => {
  it("gets the event and a context with the time it has left", async () => {
    const fn = track(
      startLambda({
        name: "echo",
        taskRoot: taskRoot(
          "export const handler = async (event, context) => ({ event, name: context.functionName, left: context.getRemainingTimeInMillis(), memory: context.memoryLimitInMB });",
        ),
        timeoutSeconds: 7,
        memoryMiB: 256,
      }),
    );
    const { payload, functionError } = await fn.invoke({ hello: "world" });
    expect(functionError).toBeUndefined();
    const answer = payload as { event: unknown; name: string; left: number; memory: string };
    expect(answer.event).toEqual({ hello: "world" });
    expect(answer.name).toBe("echo");
    expect(answer.memory).toBe("256");
    expect(answer.left).toBeGreaterThan(0);
    expect(answer.left).toBeLessThanOrEqual(7_000);
  });

  it("reports a thrown error as a function error with Lambda's error shape", async () => {
    const fn = track(
      startLambda({
        name: "thrower",
        taskRoot: taskRoot("export const handler = async () => { throw new TypeError('bad input'); };"),
      }),
    );
    const { payload, functionError } = await fn.invoke({});
    expect(functionError).toBeDefined();
    expect(payload).toMatchObject({ errorType: "TypeError", errorMessage: "bad input" });
  });

  it("ends an invocation that runs past the function's timeout", async () => {
    const fn = track(
      startLambda({
        name: "sleeper",
        taskRoot: taskRoot(
          "export const handler = () => new Promise((r) => setTimeout(() => r('late'), 60000));",
        ),
        timeoutSeconds: 1,
      }),
    );
    const { payload, functionError } = await fn.invoke({});
    expect(functionError).toBeDefined();
    expect(JSON.stringify(payload)).toMatch(/timed out/i);
  });

  it("starts another environment for a concurrent invocation, up to the concurrency limit", async () => {
    const fn = track(
      startLambda({
        name: "slow",
        taskRoot: taskRoot(
          "export const handler = () => new Promise((r) => setTimeout(() => r(process.pid), 300));",
        ),
        maxConcurrency: 2,
      }),
    );
    const pids = await Promise.all([1, 2, 3].map(() => fn.invoke({})));
    expect(fn.coldStarts).toBe(2);
    expect(new Set(pids.map((p) => p.payload)).size).toBe(2);
  });
});

describe("the webhook bundle behind a Function URL", () => {
  let url: string;
  let world: Awaited<ReturnType<typeof createMotoWorld>>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    world = await createMotoWorld({ withoutSigning: true });
    const [bundle] = await bundleFunctions(mkdtempSync(join(tmpdir(), "sgr-bundle-")), ["webhook"]);
    if (bundle?.status !== "built") throw new Error(`webhook bundle not built: ${JSON.stringify(bundle)}`);
    dirs.push(dirname(dirname(bundle.outfile)));
    const fn = track(
      startLambda({
        name: "webhook",
        taskRoot: dirname(bundle.outfile),
        timeoutSeconds: 10,
        memoryMiB: 256,
        environment: {
          SGR_CONFIG: world.env.SGR_CONFIG,
          SGR_RESOURCES: world.env.SGR_RESOURCES,
          AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL!,
          AWS_ACCESS_KEY_ID: "testing",
          AWS_SECRET_ACCESS_KEY: "testing",
          POWERTOOLS_LOG_LEVEL: "ERROR",
        },
      }),
    );
    const front = await startFunctionUrl(fn);
    url = front.url;
    close = front.close;
  });

  afterAll(() => close?.());

  const deliver = (token: string, build_id: number) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gitlab-event": "Job Hook", "x-gitlab-token": token },
      body: JSON.stringify(jobHook("pending", { build_id })),
    });

  it("accepts an authentic delivery and puts its event on the bus", async () => {
    const res = await deliver(SECRET_TOKEN, 61_001);
    expect(res.status).toBe(202);
    const [message] = await drainQueue(world.sqs, world.queues.pending, 1);
    expect(JSON.parse(message!.Body!).detail).toMatchObject({ jobId: 61_001, status: "pending" });
  });

  it("refuses a wrong token with 401", async () => {
    const res = await deliver("not-the-secret", 61_002);
    expect(res.status).toBe(401);
  });
});
