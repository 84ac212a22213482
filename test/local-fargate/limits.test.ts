/**
 * What Fargate refuses, with the error ECS gives. References: ECS API Reference, RegisterTaskDefinition (cpu,
 * memory: "Task CPU and memory" table; KernelCapabilities: "Tasks launched on Fargate only support adding the
 * SYS_PTRACE kernel capability"; privileged "not supported on Fargate"), RunTask (overrides, launchType vs
 * capacityProviderStrategy, networkConfiguration for awsvpc, count), TaskOverride (cpu, memory,
 * ephemeralStorage 21–200 GiB); ECS Developer Guide, "Stopped tasks error codes" (CannotPullContainerError,
 * TaskFailedToStart) and "Fargate task architecture" (runtimePlatform).
 */
import { type ECSServiceException, RegisterTaskDefinitionCommand, RunTaskCommand } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMAGE_REPO } from "./test-images.js";
import { startTestbed, type Testbed } from "./testbed.js";

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => bed?.close());

const sh = (script: string) => ({ entryPoint: ["/bin/sh", "-c"], command: [script] });

async function rejection(promise: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as ECSServiceException;
    return { name: e.name, message: e.message };
  }
  throw new Error("the call was accepted");
}

describe("Fargate's limits", () => {
  it("accepts only Fargate's task cpu/memory pairs at registration", async () => {
    const container = { name: "main", image: bed.images.busybox };
    const register = (cpu: string | undefined, memory: string | undefined) =>
      bed.ecs.send(
        new RegisterTaskDefinitionCommand({
          family: bed.unique("size"),
          requiresCompatibilities: ["FARGATE"],
          networkMode: "awsvpc",
          cpu,
          memory,
          containerDefinitions: [container],
        }),
      );
    expect(await rejection(register("256", "4096"))).toEqual({
      name: "ClientException",
      message: "No Fargate configuration exists for given values.",
    });
    expect(await rejection(register("1024", "1024"))).toMatchObject({ name: "ClientException" });
    expect(await rejection(register(undefined, "512"))).toEqual({
      name: "ClientException",
      message: "Fargate requires that 'cpu' be defined at the task level.",
    });
    for (const [cpu, memory] of [
      ["256", "512"],
      ["1 vCPU", "3 GB"],
      ["4096", "30720"],
      ["16384", "122880"],
    ] as const) {
      const out = await register(cpu, memory);
      expect(out.taskDefinition?.cpu).toBe(cpu);
    }
  });

  it("refuses privileged containers and capabilities other than SYS_PTRACE", async () => {
    const register = (extra: object) => bed.register([{ name: "main", image: bed.images.busybox, ...extra }]);
    expect(await rejection(register({ privileged: true }))).toMatchObject({
      name: "ClientException",
      message: expect.stringContaining("privileged"),
    });
    expect(
      await rejection(register({ linuxParameters: { capabilities: { add: ["NET_ADMIN"] } } })),
    ).toMatchObject({
      name: "ClientException",
      message: expect.stringContaining("SYS_PTRACE"),
    });
    await expect(register({ linuxParameters: { capabilities: { add: ["SYS_PTRACE"] } } })).resolves.toContain(
      ":task-definition/",
    );
  });

  it("checks RunTask's size overrides and ephemeral storage against Fargate", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    expect(await rejection(bed.run(td, { overrides: { cpu: "512", memory: "512" } }))).toEqual({
      name: "ClientException",
      message: "No Fargate configuration exists for given values.",
    });
    expect(
      await rejection(bed.run(td, { overrides: { ephemeralStorage: { sizeInGiB: 201 } } })),
    ).toMatchObject({
      name: "InvalidParameterException",
    });
    expect(
      await rejection(bed.run(td, { overrides: { containerOverrides: [{ name: "nope", command: ["x"] }] } })),
    ).toEqual({
      name: "InvalidParameterException",
      message: "Override for container named nope is not a container in the TaskDefinition.",
    });
    const big = await bed.run(td, {
      overrides: { cpu: "2048", memory: "4096", ephemeralStorage: { sizeInGiB: 50 } },
    });
    expect(big).toMatchObject({ cpu: "2048", memory: "4096", ephemeralStorage: { sizeInGiB: 50 } });
    await bed.until(big.taskArn!, "STOPPED");
  });

  it("refuses a launch type together with a capacity provider strategy, and awsvpc without a network configuration", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    expect(
      await rejection(
        bed.run(td, {
          launchType: "FARGATE",
          capacityProviderStrategy: [{ capacityProvider: "FARGATE", weight: 1 }],
        }),
      ),
    ).toEqual({
      name: "InvalidParameterException",
      message:
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
    });
    expect(
      await rejection(
        bed.ecs.send(new RunTaskCommand({ cluster: bed.cluster, taskDefinition: td, launchType: "FARGATE" })),
      ),
    ).toEqual({
      name: "InvalidParameterException",
      message: "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    });
    expect(await rejection(bed.run(td, { cluster: "no-such-cluster" }))).toEqual({
      name: "ClusterNotFoundException",
      message: "Cluster not found.",
    });
  });

  it("stops a task whose image is not in the registry with CannotPullContainerError (TaskFailedToStart)", async () => {
    const image = `${IMAGE_REPO}/absent:1`;
    const td = await bed.register([{ name: "main", image, ...sh("true") }]);
    const task = await bed.run(td);
    const stopped = await bed.until(task.taskArn!, "STOPPED");
    expect(stopped.stopCode).toBe("TaskFailedToStart");
    const reason = `CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ${image}: ${image}: not found`;
    expect(stopped.stoppedReason).toBe(reason);
    expect(stopped.containers?.[0]).toMatchObject({ reason, lastStatus: "STOPPED" });
    expect(stopped.containers?.[0]?.exitCode).toBeUndefined();
    // the task had its ENI (PENDING) before the pull failed
    expect(bed.fargate.tasks().find((t) => t.task.taskArn === task.taskArn)?.reachedAt.PENDING).toBeDefined();
  });

  it("checks runtimePlatform.cpuArchitecture against the image's architecture", async () => {
    const arm = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }], {
      runtimePlatform: { cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" },
    });
    const stopped = await bed.until((await bed.run(arm)).taskArn!, "STOPPED");
    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toMatch(/^CannotPullContainerError: .*linux\/arm64/);

    const armImage = await bed.register([{ name: "main", image: bed.images.arm64, ...sh("true") }], {
      runtimePlatform: { cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" },
    });
    const pulled = await bed.until((await bed.run(armImage)).taskArn!, "STOPPED");
    // the arm64 image is accepted; its (x86-64) busybox then runs here only because the machine is x86-64
    expect(pulled.stopCode).toBe("EssentialContainerExited");
  });
});
