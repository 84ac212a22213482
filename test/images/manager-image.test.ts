/**
 * The manager image in a real container: with a valid configuration and a runner token it renders config.toml,
 * starts the real gitlab-runner against the coordinator simulator, polls for jobs, and on SIGTERM drains and exits
 * 0 within the task definition's stop timeout; with an invalid configuration it exits non-zero naming the field,
 * never printing the token. It runs as the user its Dockerfile declares, with the root filesystem the manager task
 * definition asks for.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireSlot, activateSlot } from "../../src/state/slots.js";
import { createStateTable, documentClient, fakeTaskArn, readRecord, waitFor } from "../manager/support.js";
import { GitLabSim } from "../support/gitlab-sim.js";
import {
  builtImages,
  type Container,
  containerName,
  IMAGE_BUILD_TIMEOUT_MS,
  podman,
  runDetached,
} from "./support.js";
import { managerContainerDefinition, readOnlyOptions } from "./task-definitions.js";

const table = `sgr-image-${randomBytes(4).toString("hex")}`;
const db = documentClient();
let image: string;
let gitlab: GitLabSim;
const containers: Container[] = [];

beforeAll(async () => {
  [{ manager: image }] = await Promise.all([builtImages(), createStateTable(table)]);
  gitlab = await new GitLabSim({ longPollMs: 500 }).start();
}, IMAGE_BUILD_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(containers.map((c) => c.remove()));
  await gitlab?.close();
});

/** The environment the manager task definition gives the container, pointed at moto and the simulator. */
function managerEnvironment(runner: string, taskArn: string, config: unknown): string[] {
  const env: Record<string, string> = {
    SGR_CONFIG: JSON.stringify(config),
    SGR_RESOURCES: JSON.stringify({
      eventBusName: "bus",
      stateTableName: table,
      clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/sgr-test",
      subnetIds: ["subnet-1"],
      managerSecurityGroupIds: ["sg-1"],
      managerTaskDefinitions: { [runner]: "sgr-manager" },
      cacheBucketName: "sgr-cache-test",
    }),
    SGR_RUNNER_NAME: runner,
    // Outside ECS there is no task metadata endpoint.
    SGR_TASK_ARN: taskArn,
    SGR_DRAIN_POLL_MS: "500",
    SGR_HEARTBEAT_MS: "500",
  };
  for (const name of ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
    env[name] = process.env[name] ?? "";
  }
  return Object.entries(env).flatMap(([name, value]) => ["--env", `${name}=${value}`]);
}

async function startManager(runner: string, taskArn: string, config: unknown, token: string) {
  const definition = managerContainerDefinition();
  const container = await runDetached(
    containerName("manager"),
    [
      // Host network: moto and the simulator listen on 127.0.0.1; the container listens on nothing.
      "--network",
      "host",
      ...readOnlyOptions(definition.ReadonlyRootFilesystem),
      ...managerEnvironment(runner, taskArn, config),
      image,
    ],
    { RUNNER_TOKEN: token },
  );
  containers.push(container);
  return container;
}

describe("manager image", () => {
  it("runs gitlab-runner against GitLab, then drains on SIGTERM and exits 0 within the stop timeout", async () => {
    const runner = `img-${randomBytes(3).toString("hex")}`;
    const taskArn = fakeTaskArn();
    const token = gitlab.addRunner();
    const store = { db, tableName: table };
    const acquired = await acquireSlot(store, runner, Date.now());
    if (!acquired.acquired) throw new Error("slot taken");
    await activateSlot(store, runner, acquired.slot.ownerToken, { taskArn, capacity: "FARGATE" }, Date.now());

    const config = {
      gitlab: { url: gitlab.url },
      runners: [{ name: runner, tags: ["fargate"], concurrent: 2 }],
    };
    const container = await startManager(runner, taskArn, config, token);
    await waitFor(
      "the runner polling the simulator for jobs",
      () => gitlab.requests.some((r) => r.path === "/api/v4/jobs/request" && r.status < 300),
      60_000,
    );
    expect((await readRecord(db, table, runner, taskArn))?.state).toBe("RUNNING");

    // As the user its Dockerfile declares, with config.toml rendered into that user's home.
    expect(await podman(["exec", container.name, "id", "-u"])).toBe("10001");
    expect(await podman(["exec", container.name, "stat", "-c", "%u %a", "/var/lib/sgr/config.toml"])).toBe(
      "10001 600",
    );
    expect(await podman(["exec", container.name, "gitlab-runner", "--version"])).toContain("19.4.0");

    // ECS StopTask: SIGTERM (the image's STOPSIGNAL), then SIGKILL after the task definition's stopTimeout.
    // Exit code 0, not 137: the drain ended before the SIGKILL.
    const stopTimeout = managerContainerDefinition().StopTimeout ?? 30;
    await podman(["stop", "--time", String(stopTimeout), container.name]);
    expect(await container.wait()).toBe(0);

    const logs = await container.logs();
    expect(logs).toContain("Configuration loaded");
    expect(logs).toContain("Starting graceful shutdown");
    expect(logs).not.toContain(token);
    expect(await readRecord(db, table, runner, taskArn)).toMatchObject({
      state: "STOPPED",
      drainReason: "received SIGTERM",
      stopReason: "gitlab-runner exited with code 0",
    });
  }, 180_000);

  it("exits non-zero naming the invalid field, without the token in its output", async () => {
    const runner = `img-${randomBytes(3).toString("hex")}`;
    const token = `glrt-${randomBytes(12).toString("hex")}`;
    const config = { gitlab: { url: "not a url" }, runners: [{ name: runner, tags: ["fargate"] }] };
    const container = await startManager(runner, fakeTaskArn(), config, token);
    const code = await container.wait();
    const logs = await container.logs();
    expect(code).not.toBe(0);
    expect(logs).toContain("gitlab.url");
    expect(logs).not.toContain(token);
  }, 60_000);
});
