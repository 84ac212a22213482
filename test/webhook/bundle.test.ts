/**
 * The shipped artefact, not the sources: the webhook bundle built by scripts/bundle.ts (the CDK's
 * esbuild options) is imported like Lambda does and answers a signed delivery against moto.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleFunctions } from "../../scripts/bundle.js";
import { jobHook } from "./fixtures/payloads.js";
import { SIGNING_KEY } from "./support/fakes.js";
import { createMotoWorld, drainQueue, type MotoWorld } from "./support/moto-world.js";
import { functionUrlEvent } from "./support/requests.js";

let world: MotoWorld;
let bundlePath: string;

beforeAll(async () => {
  world = await createMotoWorld();
  const [result] = await bundleFunctions(mkdtempSync(join(tmpdir(), "sgr-bundle-")), ["webhook"]);
  if (result?.status !== "built") throw new Error(`webhook bundle not built: ${JSON.stringify(result)}`);
  bundlePath = result.outfile;
});

afterAll(() => {
  // Leave the worker's environment as found: other test files may run in this process after us.
  delete process.env.SGR_CONFIG;
  delete process.env.SGR_RESOURCES;
});

describe("webhook bundle", () => {
  it("is one ESM file that handles a delivery end to end", async () => {
    Object.assign(process.env, { SGR_CONFIG: world.env.SGR_CONFIG, SGR_RESOURCES: world.env.SGR_RESOURCES });
    const { handler } = (await import(pathToFileURL(bundlePath).href)) as {
      handler: (event: unknown) => Promise<{ statusCode: number }>;
    };
    const body = JSON.stringify(jobHook("pending", { build_id: 60_001 }));
    const response = await handler(functionUrlEvent(body, Date.now(), { signingKey: SIGNING_KEY }));
    expect(response.statusCode).toBe(202);
    const [message] = await drainQueue(world.sqs, world.queues.pending, 1);
    expect(JSON.parse(message!.Body!).detail).toMatchObject({
      jobId: 60_001,
      status: "pending",
      kind: "build",
    });
  });
});
