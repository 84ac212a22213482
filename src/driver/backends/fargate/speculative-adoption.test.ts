import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { FakeEcs } from "../../../../test/support/fake-ecs.js";
import { SECRET_FILE, speculativeTaskOf } from "../../../../test/support/speculative-tasks.js";
import type { ChannelSecretStore } from "../../../fargate/channel-secrets.js";
import type { JobTaskRecipe } from "../../../fargate/speculative-task.js";
import { adoptSpeculativeTask } from "./speculative-adoption.js";

const IDENTITY = { runnerName: "default", projectId: "7", jobId: "42", managerTaskId: "mgr0123" };
const ARN = "arn:aws:ecs:eu-west-1:1:task/c/spec42";
const FILE = SECRET_FILE;
const RECIPE: JobTaskRecipe = {
  taskDefinitionArn: "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-abc:3",
  cpu: 1024,
  memoryMiB: 2048,
  ephemeralStorageGiB: 20,
  capacity: "FARGATE",
  architecture: "x86_64",
  image: "node:24",
  services: [],
};

function waiting(recipe: JobTaskRecipe): Task {
  return {
    ...speculativeTaskOf(recipe),
    taskArn: ARN,
    lastStatus: "RUNNING",
    desiredStatus: "RUNNING",
    createdAt: new Date(Date.now() - 30_000),
  };
}

const NO_SECRETS: ChannelSecretStore = { put: async () => "", read: async () => "", remove: async () => {} };

function setup(task: Task | undefined) {
  const fake = new FakeEcs()
    .on("ListTasks", () => ({ taskArns: task ? [ARN] : [] }))
    .on("DescribeTasks", () => ({ tasks: task ? [task] : [] }))
    .on("TagResource", () => ({}));
  const stopped: { taskArn: string; reason: string }[] = [];
  const removed: string[] = [];
  const secrets: ChannelSecretStore = {
    put: async () => "",
    read: async (arn) => (arn === FILE ? "f".repeat(64) : ""),
    remove: async (arn) => void removed.push(arn),
  };
  const replaced: { reason: string; seconds: number }[] = [];
  const adopt = (wanted: JobTaskRecipe | undefined) =>
    adoptSpeculativeTask(
      {
        ecs: fake.client,
        cluster: "c",
        secrets,
        stopTask: async (taskArn, reason) => void stopped.push({ taskArn, reason }),
      },
      IDENTITY,
      wanted,
      (_task, reason, _priced, seconds) => replaced.push({ reason, seconds }),
    );
  return { fake, stopped, removed, replaced, adopt };
}

describe("adoptSpeculativeTask", () => {
  it("adopts the job's waiting task when it runs exactly the job's recipe, and makes it this manager's", async () => {
    const s = setup(waiting(RECIPE));
    const adopted = await s.adopt(RECIPE);
    expect(adopted).toMatchObject({ secret: "f".repeat(64), secretFileArn: FILE, capacity: "FARGATE" });
    expect(s.fake.callsOf("ListTasks")[0]).toMatchObject({ startedBy: "sgr-spec/42/default" });
    expect(s.fake.callsOf("TagResource")[0]).toEqual({
      resourceArn: ARN,
      tags: [{ key: "sgr:manager-task", value: "mgr0123" }],
    });
    expect(s.stopped).toEqual([]);
  });

  it("stops a task whose recipe differs, saying why, and reports what it cost", async () => {
    const s = setup(waiting({ ...RECIPE, memoryMiB: 4096 }));
    expect(await s.adopt(RECIPE)).toBeUndefined();
    expect(s.stopped).toHaveLength(1);
    expect(s.stopped[0]!.reason).toMatch(/^sgr: speculative job task not adopted: its size is/);
    expect(s.replaced[0]!.seconds).toBeGreaterThanOrEqual(29);
    expect(s.removed).toEqual([FILE]);
    expect(s.fake.callsOf("TagResource")).toEqual([]);
  });

  it("stops the waiting task of a job no recipe can serve (service variables, Managed Instances)", async () => {
    const s = setup(waiting(RECIPE));
    expect(await s.adopt(undefined)).toBeUndefined();
    expect(s.stopped[0]!.reason).toMatch(/services carry variables/);
  });

  it("looks for nothing when the driver claims the job's start first: scale-up will start none", async () => {
    const s = setup(waiting(RECIPE));
    const adopted = await adoptSpeculativeTask(
      {
        ecs: s.fake.client,
        cluster: "c",
        secrets: NO_SECRETS,
        stopTask: async () => {},
        claimStart: async () => true,
      },
      IDENTITY,
      RECIPE,
      () => {},
    );
    expect(adopted).toBeUndefined();
    expect(s.fake.callsOf("ListTasks")).toEqual([]);
  });

  it("waits for the task scale-up has claimed but not started yet", async () => {
    const task = waiting(RECIPE);
    const fake = new FakeEcs()
      .on(
        "ListTasks",
        () => ({ taskArns: [] }),
        () => ({ taskArns: [] }),
        () => ({ taskArns: [ARN] }),
      )
      .on("DescribeTasks", () => ({ tasks: [task] }))
      .on("TagResource", () => ({}));
    const slept: number[] = [];
    const adopted = await adoptSpeculativeTask(
      {
        ecs: fake.client,
        cluster: "c",
        secrets: { ...NO_SECRETS, read: async () => "f".repeat(64) },
        stopTask: async () => {},
        claimStart: async () => false,
        sleep: async (ms) => void slept.push(ms),
      },
      IDENTITY,
      RECIPE,
      () => {},
    );
    expect(adopted?.task.taskArn).toBe(ARN);
    expect(slept).toEqual([500, 500]);
  });

  it("finds nothing when scale-up started nothing for the job", async () => {
    const s = setup(undefined);
    expect(await s.adopt(RECIPE)).toBeUndefined();
    expect(s.fake.callsOf("DescribeTasks")).toEqual([]);
  });
});
