import { DescribeTasksCommand, ListTasksCommand, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import type { EcsApi } from "../fargate/ecs.js";
import {
  describeTaskLiveness,
  hasRunningJobTasks,
  type ManagerLaunch,
  ManagerStartError,
  startManagerTask,
  stopManagerTask,
} from "./manager-tasks.js";

/** A hand-written ECS stand-in: answers each command from a queue and keeps what it was sent. */
function fakeEcs(answers: Array<(input: Record<string, unknown>) => unknown>) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const ecs: EcsApi = {
    send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      const answer = answers.shift();
      if (!answer) throw new Error(`unexpected ${command.constructor.name}`);
      return answer(command.input);
    }) as EcsApi["send"],
  };
  return { ecs, sent };
}

const launch: ManagerLaunch = {
  cluster: "c",
  taskDefinition: "td",
  runnerName: "small",
  subnets: ["subnet-1"],
  securityGroups: ["sg-1"],
  assignPublicIp: false,
  capacity: "FARGATE_SPOT",
  clientToken: "owner-token",
};
const CAPACITY =
  "Capacity is unavailable at this time. Please try again later or in a different availability zone";
const task = (arn: string) => () => ({ tasks: [{ taskArn: arn }], failures: [] });

describe("startManagerTask", () => {
  it("sends startedBy, tags, the network, the capacity strategy and a client token, never overrides", async () => {
    const { ecs, sent } = fakeEcs([task("arn:task/c/1")]);
    expect(await startManagerTask(ecs, launch)).toEqual({
      taskArn: "arn:task/c/1",
      capacity: "FARGATE_SPOT",
      spotFallback: false,
    });
    const input = sent[0]!.input as unknown as RunTaskCommand["input"];
    expect(sent[0]!.name).toBe(RunTaskCommand.name);
    expect(input.startedBy).toBe("sgr-manager/small");
    expect(input.capacityProviderStrategy).toEqual([{ capacityProvider: "FARGATE_SPOT", weight: 1 }]);
    expect(input.networkConfiguration?.awsvpcConfiguration?.assignPublicIp).toBe("DISABLED");
    expect(input.clientToken).toBe("owner-token-FARGATE_SPOT");
    expect(input.overrides).toBeUndefined();
    expect(input.launchType).toBeUndefined();
  });

  it("falls back to FARGATE on a capacity failure, with a different client token", async () => {
    const reasons: string[] = [];
    const { ecs, sent } = fakeEcs([
      () => ({ tasks: [], failures: [{ reason: CAPACITY }] }),
      task("arn:task/c/2"),
    ]);
    const started = await startManagerTask(ecs, launch, (r) => reasons.push(r));
    expect(started).toEqual({ taskArn: "arn:task/c/2", capacity: "FARGATE", spotFallback: true });
    expect(reasons).toEqual([CAPACITY]);
    const second = sent[1]!.input as unknown as RunTaskCommand["input"];
    expect(second.capacityProviderStrategy).toEqual([{ capacityProvider: "FARGATE", weight: 1 }]);
    expect(second.clientToken).toBe("owner-token-FARGATE");
  });

  it("falls back when the capacity error is thrown", async () => {
    const { ecs } = fakeEcs([
      () => {
        throw Object.assign(new Error(CAPACITY), { name: "ServerException" });
      },
      task("arn:task/c/3"),
    ]);
    expect((await startManagerTask(ecs, launch)).capacity).toBe("FARGATE");
  });

  it("does not fall back for on-demand, nor for other failures, nor twice", async () => {
    const onDemand = fakeEcs([() => ({ tasks: [], failures: [{ reason: CAPACITY }] })]);
    await expect(startManagerTask(onDemand.ecs, { ...launch, capacity: "FARGATE" })).rejects.toBeInstanceOf(
      ManagerStartError,
    );
    const other = fakeEcs([
      () => ({ tasks: [], failures: [{ reason: "MISSING", detail: "task definition" }] }),
    ]);
    await expect(startManagerTask(other.ecs, launch)).rejects.toThrow(/MISSING: task definition/);
    expect(other.sent).toHaveLength(1);
    const none = fakeEcs([
      () => ({ tasks: [], failures: [{ reason: CAPACITY }] }),
      () => ({ tasks: [], failures: [{ reason: CAPACITY }] }),
    ]);
    await expect(startManagerTask(none.ecs, launch)).rejects.toThrow(/neither Fargate Spot nor Fargate/);
  });

  it("lets throttling and other SDK errors through (the caller releases the slot and throws)", async () => {
    const { ecs } = fakeEcs([
      () => {
        throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      },
    ]);
    await expect(startManagerTask(ecs, launch)).rejects.toThrow("Rate exceeded");
  });
});

describe("ECS reads", () => {
  it("maps tasks to running / stopped / missing", async () => {
    const { ecs, sent } = fakeEcs([
      () => ({
        tasks: [
          { taskArn: "a", lastStatus: "RUNNING" },
          { taskArn: "b", lastStatus: "STOPPED", stoppedReason: "Essential container exited" },
        ],
        failures: [{ arn: "c", reason: "MISSING" }],
      }),
    ]);
    const liveness = await describeTaskLiveness(ecs, "c", ["a", "b", "c"]);
    expect(Object.fromEntries(liveness)).toEqual({
      a: { liveness: "running" },
      b: { liveness: "stopped", stoppedReason: "Essential container exited" },
      c: { liveness: "missing" },
    });
    expect(sent[0]!.name).toBe(DescribeTasksCommand.name);
  });

  it("asks ECS for running job tasks started by the manager", async () => {
    const { ecs, sent } = fakeEcs([() => ({ taskArns: ["job"] }), () => ({ taskArns: [] })]);
    expect(await hasRunningJobTasks(ecs, "c", "mgr-id")).toBe(true);
    expect(await hasRunningJobTasks(ecs, "c", "mgr-id")).toBe(false);
    expect(sent[0]).toMatchObject({
      name: ListTasksCommand.name,
      input: { startedBy: "mgr-id", desiredStatus: "RUNNING" },
    });
  });

  it("treats stopping an already-gone task as done", async () => {
    const { ecs, sent } = fakeEcs([
      () => {
        throw Object.assign(new Error("The referenced task was not found."), {
          name: "InvalidParameterException",
        });
      },
    ]);
    await expect(stopManagerTask(ecs, "c", "gone", "why")).resolves.toBeUndefined();
    expect(sent[0]!.name).toBe(StopTaskCommand.name);
  });
});
