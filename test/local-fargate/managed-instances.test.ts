/**
 * ECS Managed Instances on the local Fargate: a privileged container is refused on Fargate with ECS's error and runs
 * (with every capability) on a Managed Instances capacity provider, whose first task waits for an instance to
 * launch; and the product's fargate backend starts a privileged job task there.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StartTaskRequest } from "../../src/driver/backend.js";
import { FargateBackend } from "../../src/driver/backends/fargate/backend.js";
import { TaskDefinitionCache } from "../../src/driver/backends/fargate/task-definitions.js";
import { managedInstancesCreateArgs } from "../support/local-fargate/managed-instances.js";
import { rejection } from "./rejection.js";
import { startTestbed, type Testbed } from "./testbed.js";

const PROVIDER = "sgr-managed-instances";
const INSTANCE_START_MS = 1_500;

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed({
    taskAddressEnv: ["TASK_IP", "SGR_AGENT_HOST"],
    managedInstances: { capacityProviders: [PROVIDER], instanceStartMs: INSTANCE_START_MS, idleMs: 60_000 },
  });
});
afterAll(async () => bed?.close());

/** Prints the container's effective capability mask, e.g. `CapEff:\t00000000a80425fb`. */
const showCapabilities = { entryPoint: ["/bin/sh", "-c"], command: ["grep CapEff /proc/self/status"] };
const onManagedInstances = { capacityProviderStrategy: [{ capacityProvider: PROVIDER, weight: 1 }] };

async function effectiveCapabilities(taskArn: string): Promise<bigint> {
  await bed.until(taskArn, "STOPPED");
  let line: string | undefined;
  for (let i = 0; i < 40 && !line; i++) {
    line = (await bed.logLines(taskArn, "main")).find((l) => l.startsWith("CapEff"));
    if (!line) await new Promise((r) => setTimeout(r, 100));
  }
  return BigInt(`0x${line?.split(/\s+/)[1] ?? "0"}`);
}

describe("Managed Instances on the local Fargate", () => {
  it("runs a privileged container without Fargate's capability set and seccomp profile, others unchanged", () => {
    const args = ["create", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--security-opt", "seccomp=/p.json"];
    const withImage = [...args, "--memory", "64m", "busybox", "--cap-add", "kept"];
    const privileged = { privileged: true, command: ["--cap-add", "kept"] };
    expect(managedInstancesCreateArgs(privileged, withImage)).toEqual([
      "create",
      "--privileged",
      "--memory",
      "64m",
      "busybox",
      "--cap-add",
      "kept",
    ]);
    expect(managedInstancesCreateArgs({ command: ["--cap-add", "kept"] }, withImage)).toBe(withImage);
  });

  it("refuses a privileged container on Fargate and runs it privileged on Managed Instances", async () => {
    const privileged = { name: "main", image: bed.images.busybox, privileged: true, ...showCapabilities };
    expect(await rejection(bed.register([privileged]))).toEqual({
      name: "ClientException",
      message: "Fargate does not support privileged containers. Container 'main' sets privileged.",
    });

    const managed = await bed.register([privileged], { requiresCompatibilities: ["MANAGED_INSTANCES"] });
    expect(await rejection(bed.run(managed))).toMatchObject({
      name: "InvalidParameterException",
      message: "Task definition does not support launch_type FARGATE.",
    });
    const fargate = await bed.register([{ name: "main", image: bed.images.busybox, ...showCapabilities }]);
    expect(await rejection(bed.run(fargate, onManagedInstances))).toMatchObject({
      message: "Task definition does not support launch_type MANAGED_INSTANCES.",
    });

    const [first, second] = [await bed.run(managed, onManagedInstances), await bed.run(fargate)];
    const privilegedCaps = await effectiveCapabilities(first.taskArn!);
    const fargateCaps = await effectiveCapabilities(second.taskArn!);
    expect(fargateCaps).toBe(0xa80425fbn); // Docker's default set, as on Fargate
    expect(privilegedCaps & fargateCaps).toBe(fargateCaps);
    expect(privilegedCaps).toBeGreaterThan(fargateCaps); // SYS_ADMIN and the rest: what dockerd needs
    expect((await bed.describe(first.taskArn!)).capacityProviderName).toBe(PROVIDER);
  });

  it("makes a task wait for an instance to launch, and the next one reuse the idle instance", async () => {
    const definition = await bed.register([{ name: "main", image: bed.images.busybox, command: ["true"] }], {
      requiresCompatibilities: ["MANAGED_INSTANCES"],
    });
    const provisioning = (taskArn: string) => {
      const record = bed.fargate.tasks().find((t) => t.task.taskArn === taskArn)!;
      return (record.reachedAt.PENDING ?? 0) - (record.reachedAt.PROVISIONING ?? 0);
    };
    // The earlier test's instance is idle, not gone (idleMs 60 s): a fresh local Fargate would wait here.
    const warm = await bed.run(definition, onManagedInstances);
    await bed.until(warm.taskArn!, "STOPPED");
    expect(provisioning(warm.taskArn!)).toBeLessThan(INSTANCE_START_MS);
    const firstTask = bed.fargate.tasks().find((t) => t.task.capacityProviderName === PROVIDER)!;
    expect(
      (firstTask.reachedAt.PENDING ?? 0) - (firstTask.reachedAt.PROVISIONING ?? 0),
    ).toBeGreaterThanOrEqual(INSTANCE_START_MS);
  });

  it("starts the product's privileged job task on the Managed Instances capacity provider", async () => {
    const backend = new FargateBackend({
      ecs: bed.ecs,
      cluster: bed.cluster,
      subnetIds: ["subnet-12345678"],
      securityGroupIds: ["sg-0123456789abcdef0"],
      assignPublicIp: false,
      taskDefinitions: new TaskDefinitionCache(bed.ecs, {
        region: "us-east-1",
        logGroupName: bed.logGroup,
        logStreamPrefix: "lf",
        executionRoleArn: "arn:aws:iam::123456789012:role/sgr-job-execution",
      }),
      managedInstancesCapacityProvider: PROVIDER,
      pollIntervalMs: 100,
    });
    const request: StartTaskRequest = {
      identity: { runnerName: "default", projectId: "42", jobId: "77", managerTaskId: bed.unique("mgr") },
      shape: {
        build: { name: "build", image: bed.images.busybox },
        services: [],
        architecture: "x86_64",
        helperImage: bed.images.helperStandIn,
        managedInstances: { privileged: true, gpus: 0 },
      },
      settings: {
        size: { cpu: 512, memoryMiB: 1024, ephemeralStorageGiB: 20 },
        capacity: "MANAGED_INSTANCES",
      },
      agentSecret: "a".repeat(40),
    };
    const started = await backend.startTask(request);
    expect(started.endpoint.host).toMatch(/^127\.0\.0\.\d+$/);
    await bed.until(started.taskId, "RUNNING");
    const task = await bed.describe(started.taskId);
    expect(task.capacityProviderName).toBe(PROVIDER);
    await backend.stopTask(started.taskId, "job finished");
    await bed.until(started.taskId, "STOPPED");
  });
});
