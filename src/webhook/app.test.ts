import { describe, expect, it } from "vitest";
import { jobHook } from "../../test/webhook/fixtures/payloads.js";
import { fakeWorld, NOW_MS, SECRET_TOKEN } from "../../test/webhook/support/fakes.js";
import { functionUrlEvent } from "../../test/webhook/support/requests.js";
import { createWebhookHandler } from "./app.js";
import { createWebhookDependencies } from "./runtime.js";

function recordingLogger() {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: unknown, ...extra: unknown[]) =>
      void lines.push(JSON.stringify({ level, message, extra }));
  return { lines, logger: { info: record("info"), warn: record("warn"), error: record("error") } as never };
}

describe("webhook handler wiring", () => {
  it("answers 500 for every request when the configuration is invalid, and says why once", async () => {
    const { lines, logger } = recordingLogger();
    const handler = createWebhookHandler(
      (log) => createWebhookDependencies({ SGR_CONFIG: "{}" }, log),
      logger,
    );
    const event = functionUrlEvent(JSON.stringify(jobHook("pending")), NOW_MS);
    expect((await handler(event)).statusCode).toBe(500);
    expect((await handler(event)).statusCode).toBe(500);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("SGR_CONFIG");
  });

  it("builds real clients from a valid environment without calling AWS", () => {
    const env = {
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
      }),
    };
    const deps = createWebhookDependencies(env, { info() {}, warn() {}, error() {} });
    expect(deps.eventBusName).toBe("bus");
    expect(deps.deadLetters).toBeNull();
    expect(deps.settings).toEqual({
      maxBodyBytes: 1024 * 1024,
      signatureToleranceSeconds: 300,
      requireSignature: false,
    });
  });

  it("refuses a header sent twice in different cases with different values, whichever order", async () => {
    const world = fakeWorld();
    const handler = createWebhookHandler(() => world.deps, { info() {}, warn() {}, error() {} });
    const body = JSON.stringify(jobHook("pending"));
    const withTokens = (...tokens: [string, string][]) => {
      const event = functionUrlEvent(body, NOW_MS, { token: null });
      for (const [name, value] of tokens) event.headers[name] = value;
      return handler(event);
    };
    const conflicting = [
      withTokens(["X-Gitlab-Token", "wrong"], ["x-gitlab-token", SECRET_TOKEN]),
      withTokens(["X-Gitlab-Token", SECRET_TOKEN], ["x-gitlab-token", "wrong"]),
    ];
    for (const response of await Promise.all(conflicting)) expect(response.statusCode).toBe(400);
    expect(world.publisher.published).toHaveLength(0);
    const identical = await withTokens(["X-Gitlab-Token", SECRET_TOKEN], ["x-gitlab-token", SECRET_TOKEN]);
    expect(identical.statusCode).toBe(202);
  });

  it("turns an unexpected error into a logged 500, never a thrown one", async () => {
    const { lines, logger } = recordingLogger();
    const world = fakeWorld();
    world.deps.secrets = { get: () => Promise.resolve(null as never) };
    const handler = createWebhookHandler(() => world.deps, logger);
    const response = await handler(functionUrlEvent(JSON.stringify(jobHook("pending")), NOW_MS));
    expect(response.statusCode).toBe(500);
    expect(lines.some((l) => l.includes("unexpected error"))).toBe(true);
  });
});
