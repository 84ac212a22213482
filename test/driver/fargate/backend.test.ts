/**
 * The fargate backend against moto with real SDK v3 calls: RunTask's capacity provider, overrides, tags,
 * startedBy and network settings as ECS stored them; findTask; reuse and replacement on a retried prepare;
 * StopTask, including of tasks that are gone.
 *
 * moto's gaps shape these tests: it echoes overrides without applying them, ignores clientToken, starts tasks
 * RUNNING and moves them one status further on every DescribeTasks (so each test keeps to a few describes of its
 * own tasks), and cannot fail for capacity, image pulls or Spot. Those paths are covered by the unit tests in
 * src/driver/backends/fargate.test.ts, which drive the backend with a hand-written fake ECS client.
 */
import { DescribeTasksCommand, ECSClient, ListTasksCommand, type Task } from "@aws-sdk/client-ecs";
import { beforeAll, describe, expect, it } from "vitest";
import { AGENT_CHANNEL_PORT } from "../../../src/config/ports.js";
import type { JobIdentity, StartTaskRequest } from "../../../src/driver/backend.js";
import { FargateBackend } from "../../../src/driver/backends/fargate/backend.js";
import { TaskDefinitionCache } from "../../../src/driver/backends/fargate/task-definitions.js";
import {
  clientsForAccount,
  createTestCluster,
  REGION,
  type TestCluster,
  testDefinitionSettings,
  unique,
  uniqueShape,
} from "./support.js";

const { ecs, ec2 } = clientsForAccount();
let env: TestCluster;
let backend: FargateBackend;
let cache: TaskDefinitionCache;

beforeAll(async () => {
  env = await createTestCluster(ecs, ec2);
  cache = new TaskDefinitionCache(ecs, testDefinitionSettings);
  backend = new FargateBackend({
    ecs,
    cluster: env.cluster,
    subnetIds: [env.subnetId],
    securityGroupIds: [env.securityGroupId],
    assignPublicIp: false,
    taskDefinitions: cache,
  });
});

function request(identity: Partial<JobIdentity> = {}, secret = "s3cret-agent-key"): StartTaskRequest {
  return {
    identity: {
      runnerName: "default",
      projectId: "42",
      jobId: unique("job"),
      managerTaskId: unique("mgr"),
      ...identity,
    },
    shape: uniqueShape(),
    settings: { size: { cpu: 2048, memoryMiB: 8192, ephemeralStorageGiB: 50 }, capacity: "FARGATE_SPOT" },
    agentSecret: secret,
  };
}

async function describeOne(taskArn: string): Promise<Task> {
  const described = await ecs.send(
    new DescribeTasksCommand({ cluster: env.cluster, tasks: [taskArn], include: ["TAGS"] }),
  );
  return described.tasks![0]!;
}

async function tasksStartedBy(managerTaskId: string): Promise<string[]> {
  const listed = await ecs.send(new ListTasksCommand({ cluster: env.cluster, startedBy: managerTaskId }));
  return listed.taskArns ?? [];
}

describe("fargate backend (moto)", () => {
  it("starts a job task with its capacity provider, overrides, tags, startedBy and agent endpoint", async () => {
    const req = request();
    const started = await backend.startTask(req);
    expect(started.endpoint.port).toBe(AGENT_CHANNEL_PORT);
    expect(started.endpoint.host).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const task = await describeOne(started.taskId);
    expect(task.capacityProviderName).toBe("FARGATE_SPOT");
    expect(task.startedBy).toBe(req.identity.managerTaskId);
    expect(task.taskDefinitionArn).toMatch(/task-definition\/sgr-job-[0-9a-f]{16}:\d+$/);
    expect(task.overrides?.cpu).toBe("2048");
    expect(task.overrides?.memory).toBe("8192");
    expect(task.overrides?.ephemeralStorage).toEqual({ sizeInGiB: 50 });
    const helper = task.overrides?.containerOverrides?.find((c) => c.name === "helper");
    const env = Object.fromEntries((helper?.environment ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      SGR_AGENT_SECRET: "s3cret-agent-key",
      SGR_JOB_ID: req.identity.jobId,
      SGR_PROJECT_ID: "42",
    });
    expect(Object.fromEntries((task.tags ?? []).map((t) => [t.key, t.value]))).toEqual({
      "sgr:runner": "default",
      "sgr:manager-task": req.identity.managerTaskId,
      "sgr:project-id": "42",
      "sgr:job-id": req.identity.jobId,
    });
    const eni = task.attachments?.[0]?.details?.find((d) => d.name === "privateIPv4Address")?.value;
    expect(started.endpoint.host).toBe(eni);
  });

  it("finds a job's task by manager and job tags, and not another job's", async () => {
    const req = request();
    const started = await backend.startTask(req);
    expect(await backend.findTask(req.identity)).toBe(started.taskId);
    expect(await backend.findTask({ ...req.identity, jobId: unique("other-job") })).toBeUndefined();
    expect(await backend.findTask({ ...req.identity, managerTaskId: unique("other-mgr") })).toBeUndefined();
  });

  it("reuses the task of an identical retried start, and replaces it for a new attempt", async () => {
    const req = request();
    const first = await backend.startTask(req);
    const retried = await backend.startTask(req);
    expect(retried.taskId).toBe(first.taskId);
    expect(await tasksStartedBy(req.identity.managerTaskId)).toHaveLength(1);

    const newAttempt = await backend.startTask({ ...req, agentSecret: "a-new-secret-for-attempt-2" });
    expect(newAttempt.taskId).not.toBe(first.taskId);
    expect(await tasksStartedBy(req.identity.managerTaskId)).toHaveLength(2);
    const old = await describeOne(first.taskId);
    expect(old.desiredStatus).toBe("STOPPED");
    expect(old.stoppedReason).toMatch(/new preparation attempt/);
  });

  it("uses the same cached task definition for jobs of the same shape, whatever their size", async () => {
    const shape = uniqueShape();
    const a = await backend.startTask({ ...request(), shape });
    const b = await backend.startTask({
      ...request(),
      shape,
      settings: { size: { cpu: 512, memoryMiB: 1024, ephemeralStorageGiB: 20 }, capacity: "FARGATE" },
    });
    const [ta, tb] = [await describeOne(a.taskId), await describeOne(b.taskId)];
    expect(tb.taskDefinitionArn).toBe(ta.taskDefinitionArn);
    expect(tb.capacityProviderName).toBe("FARGATE");
    // 20 GiB is Fargate's default and not a valid override value: no ephemeralStorage override then.
    expect(tb.overrides?.ephemeralStorage).toBeUndefined();
  });

  it("stops a task with its reason, and tolerates stopping it again or stopping an unknown task", async () => {
    const started = await backend.startTask(request());
    await backend.stopTask(started.taskId, "job finished");
    const state = await backend.describeTask(started.taskId);
    expect(state).toEqual({ state: "stopped", reason: "the job task was stopped: job finished" });
    await expect(backend.stopTask(started.taskId, "again")).resolves.toBeUndefined();

    // moto answers StopTask on an unknown task with HTTP 500 (real ECS: InvalidParameterException); both are "gone".
    const impatient = new FargateBackend({
      ecs: new ECSClient({ region: REGION, maxAttempts: 1 }),
      cluster: env.cluster,
      subnetIds: [env.subnetId],
      securityGroupIds: [env.securityGroupId],
      assignPublicIp: false,
      taskDefinitions: cache,
    });
    const unknown = `${started.taskId.slice(0, started.taskId.lastIndexOf("/"))}/${"f".repeat(32)}`;
    expect(unknown).not.toBe(started.taskId);
    await expect(impatient.stopTask(unknown, "cleanup")).resolves.toBeUndefined();
    expect(await impatient.describeTask(unknown)).toMatchObject({
      state: "stopped",
      reason: expect.stringMatching(/no longer exists/),
    });
  });

  it("refuses a size Fargate does not offer before calling ECS", async () => {
    const req = request();
    await expect(
      backend.startTask({
        ...req,
        settings: { ...req.settings, size: { cpu: 1024, memoryMiB: 1024, ephemeralStorageGiB: 20 } },
      }),
    ).rejects.toThrow(/does not combine 1024 CPU units with 1024 MiB/);
    expect(await tasksStartedBy(req.identity.managerTaskId)).toHaveLength(0);
  });
});
