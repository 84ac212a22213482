/**
 * The product's fargate backend (src/driver/backends/fargate.ts) against the local Fargate: its job task
 * definition (helper + build loop, shared volumes, pidMode task) really starts, the backend waits for the task's
 * address as it would on ECS, finds, describes and stops the task, and falls back to on-demand when Fargate Spot
 * has no capacity. The helper is a stand-in (the product's images are built elsewhere); the build container runs
 * the product's own build loop.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_CHANNEL_PORT } from "../../src/config/ports.js";
import type { StartTaskRequest } from "../../src/driver/backend.js";
import { FargateBackend } from "../../src/driver/backends/fargate.js";
import { TaskDefinitionCache } from "../../src/driver/task-definitions.js";
import { startTestbed, type Testbed } from "./testbed.js";

let bed: Testbed;
let ecs: ECSClient;
let backend: FargateBackend;

beforeAll(async () => {
  // The agent binds the task's address: Fargate gives each task its own interface, here they share the host's.
  bed = await startTestbed({ taskAddressEnv: ["SGR_AGENT_HOST"] });
  ecs = new ECSClient({ endpoint: bed.fargate.endpoint, region: "us-east-1" });
  const cache = new TaskDefinitionCache(ecs, {
    region: "us-east-1",
    logGroupName: bed.logGroup,
    logStreamPrefix: "lf",
    executionRoleArn: "arn:aws:iam::123456789012:role/sgr-job-execution",
  });
  backend = new FargateBackend({
    ecs,
    cluster: bed.cluster,
    subnetIds: ["subnet-12345678"],
    securityGroupIds: ["sg-0123456789abcdef0"],
    assignPublicIp: false,
    taskDefinitions: cache,
    pollIntervalMs: 100,
  });
});
afterAll(async () => {
  ecs?.destroy();
  await bed?.close();
});

function request(jobId: string): StartTaskRequest {
  return {
    identity: { runnerName: "default", projectId: "42", jobId, managerTaskId: bed.unique("mgr") },
    shape: {
      build: { name: "build", image: bed.images.busybox },
      services: [],
      architecture: "x86_64",
      helperImage: bed.images.helperStandIn,
    },
    settings: { size: { cpu: 512, memoryMiB: 1024, ephemeralStorageGiB: 20 }, capacity: "FARGATE_SPOT" },
    agentSecret: "a".repeat(40),
  };
}

describe("the product's fargate backend on the local Fargate", () => {
  it("starts a job task whose agent is given its own address, finds, describes and stops it", async () => {
    const req = request(bed.unique("job"));
    const started = await backend.startTask(req);
    expect(started.endpoint.host).toMatch(/^127\.0\.0\.\d+$/);
    expect(started.endpoint.port).toBe(AGENT_CHANNEL_PORT);
    await bed.logged(started.taskId, "helper", `agent on ${started.endpoint.host}:${AGENT_CHANNEL_PORT}`);
    expect(await backend.findTask(req.identity)).toBe(started.taskId);
    await bed.until(started.taskId, "RUNNING");
    expect(await backend.describeTask(started.taskId)).toEqual({ state: "running" });

    await backend.stopTask(started.taskId, "job finished");
    await bed.until(started.taskId, "STOPPED");
    const state = await backend.describeTask(started.taskId);
    expect(state).toMatchObject({ state: "stopped", reason: "the job task was stopped: job finished" });
    const task = await bed.describe(started.taskId);
    expect(task).toMatchObject({ capacityProviderName: "FARGATE_SPOT", cpu: "512", memory: "1024" });
    // The build loop found the helper's FIFO and waited on it until SIGTERM (143); the helper left on its trap (0).
    const exit = (name: string) => task.containers?.find((c) => c.name === name)?.exitCode;
    expect({ build: exit("build"), helper: exit("helper") }).toEqual({ build: 143, helper: 0 });
  });

  it("falls back to on-demand when Fargate Spot has no capacity", async () => {
    bed.fargate.faults.spotCapacityUnavailable(1);
    const notices: string[] = [];
    const started = await backend.startTask({
      ...request(bed.unique("job")),
      notice: (line) => notices.push(line),
    });
    expect(started.capacity).toBe("FARGATE");
    expect(notices.join("\n")).toContain("Capacity is unavailable at this time");
    expect((await bed.describe(started.taskId)).capacityProviderName).toBe("FARGATE");
    await backend.stopTask(started.taskId, "done");
    await bed.until(started.taskId, "STOPPED");
  });
});
