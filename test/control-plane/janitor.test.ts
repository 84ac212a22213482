/**
 * The janitor against moto with real SDK v3 calls, in a moto account of its own (it sweeps every sgr-job family
 * of the account, which would otherwise include other test files' definitions): job tasks of a gone manager are
 * stopped, a live manager's are left alone, and stale definitions are deregistered, then deleted in batches of 10.
 * The age limit (maxJobSeconds) needs task creation times, which moto does not return: see src/control-plane/janitor.test.ts.
 */
import {
  DescribeTasksCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { runJanitor } from "../../src/control-plane/janitor.js";
import { FargateBackend } from "../../src/driver/backends/fargate/backend.js";
import { TaskDefinitionCache } from "../../src/driver/backends/fargate/task-definitions.js";
import { taskIdOf } from "../../src/fargate/ecs.js";
import {
  clientsForAccount,
  countingClient,
  createTestCluster,
  minimalFargateDefinition,
  testDefinitionSettings,
  unique,
  uniqueShape,
} from "../driver/fargate/support.js";

const { ecs, ec2 } = clientsForAccount("210987654321");
const config = parseConfig({
  gitlab: { url: "https://gitlab.example.com" },
  runners: [{ name: "default", tags: ["fargate"] }],
  taskDefinitionRetentionDays: 14,
});

async function startManager(cluster: string, subnetId: string): Promise<string> {
  const family = unique("sgr-test-manager");
  await ecs.send(
    new RegisterTaskDefinitionCommand(
      minimalFargateDefinition(family, {
        name: "manager",
        image: "gitlab-runner:latest",
        memoryReservation: 256,
      }),
    ),
  );
  const run = await ecs.send(
    new RunTaskCommand({
      cluster,
      taskDefinition: family,
      launchType: "FARGATE",
      networkConfiguration: {
        awsvpcConfiguration: { subnets: [subnetId], securityGroups: ["sg-0123456789abcdef1"] },
      },
    }),
  );
  return run.tasks![0]!.taskArn!;
}

async function familyRevisions(family: string, status: "ACTIVE" | "INACTIVE"): Promise<number> {
  const listed = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: family, status }));
  return (listed.taskDefinitionArns ?? []).length;
}

describe("janitor (moto)", () => {
  it("stops the job tasks of a gone manager, keeps a live manager's, and retires stale task definitions in batches of 10", async () => {
    const env = await createTestCluster(ecs, ec2);
    const managerArn = await startManager(env.cluster, env.subnetId);
    const backend = new FargateBackend({
      ecs,
      cluster: env.cluster,
      subnetIds: [env.subnetId],
      securityGroupIds: [env.securityGroupId],
      assignPublicIp: true,
      taskDefinitions: new TaskDefinitionCache(ecs, testDefinitionSettings),
    });
    const job = (jobId: string, managerTaskId: string) => ({
      identity: { runnerName: "default", projectId: "7", jobId, managerTaskId },
      shape: uniqueShape(),
      settings: {
        size: { cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 21 },
        capacity: "FARGATE" as const,
      },
      agentSecret: "secret",
    });
    const kept = await backend.startTask(job("101", taskIdOf(managerArn)));
    const orphanJob = job("102", "0123456789abcdef0123456789abcdef");
    const orphan = await backend.startTask(orphanJob);

    // 23 definitions last used 40 days ago: past the 14-day retention.
    const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    const oldCache = new TaskDefinitionCache(ecs, testDefinitionSettings, { now: () => longAgo });
    const stale = await Promise.all(Array.from({ length: 23 }, () => oldCache.resolve(uniqueShape())));

    const { ecs: counted, sent } = countingClient(ecs);
    const report = await runJanitor(
      { ecs: counted },
      { config, cluster: env.cluster, writesPerSecond: 1000 },
      new Date(),
    );

    expect(report.errors).toEqual([]);
    expect(report.stoppedTasks).toEqual([
      {
        taskArn: orphan.taskId,
        reason: expect.stringMatching(/manager task 0123456789abcdef0123456789abcdef is gone/),
      },
    ]);
    const tasks = await ecs.send(
      new DescribeTasksCommand({ cluster: env.cluster, tasks: [kept.taskId, orphan.taskId, managerArn] }),
    );
    const desired = Object.fromEntries((tasks.tasks ?? []).map((t) => [t.taskArn, t.desiredStatus]));
    expect(desired).toEqual({
      [kept.taskId]: "RUNNING",
      [orphan.taskId]: "STOPPED",
      [managerArn]: "RUNNING",
    });

    expect(new Set(report.deregistered)).toEqual(new Set(stale.map((s) => s.arn)));
    expect(new Set(report.deleted)).toEqual(new Set(stale.map((s) => s.arn)));
    const deleteBatches = sent
      .filter((c) => c.name === "DeleteTaskDefinitionsCommand")
      .map((c) => (c.input as { taskDefinitions: string[] }).taskDefinitions.length);
    expect(deleteBatches).toEqual([10, 10, 3]);
    for (const { family } of stale.slice(0, 3)) {
      expect(await familyRevisions(family, "ACTIVE")).toBe(0);
      expect(await familyRevisions(family, "INACTIVE")).toBe(0);
    }
    // The definitions the jobs used today stay.
    const liveFamily = (
      await ecs.send(new DescribeTasksCommand({ cluster: env.cluster, tasks: [kept.taskId] }))
    )
      .tasks![0]!.taskDefinitionArn!.split("/")[1]!
      .split(":")[0]!;
    expect(await familyRevisions(liveFamily, "ACTIVE")).toBe(1);

    // A second run finds nothing left to do.
    const again = await runJanitor(
      { ecs },
      { config, cluster: env.cluster, writesPerSecond: 1000 },
      new Date(),
    );
    expect(again).toMatchObject({
      stoppedTasks: [],
      deregistered: [],
      deleted: [],
      errors: [],
      resumeAfter: null,
    });
  });
  it("retires only its own deployment's definitions when two deployments share the account", async () => {
    const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    const deployment = (familyScope: string) =>
      new TaskDefinitionCache(ecs, { ...testDefinitionSettings, familyScope }, { now: () => longAgo });
    const ours = await Promise.all(
      Array.from({ length: 3 }, () => deployment("aaaa1111").resolve(uniqueShape())),
    );
    const theirs = await Promise.all(
      Array.from({ length: 2 }, () => deployment("bbbb2222").resolve(uniqueShape())),
    );
    for (const { family } of ours) expect(family).toMatch(/^sgr-job-aaaa1111-[0-9a-f]{16}$/);

    const env = await createTestCluster(ecs, ec2);
    const report = await runJanitor(
      { ecs },
      { config, cluster: env.cluster, familyScope: "aaaa1111", writesPerSecond: 1000 },
      new Date(),
    );
    expect(report.errors).toEqual([]);
    expect(new Set(report.deleted)).toEqual(new Set(ours.map((d) => d.arn)));
    for (const { family } of theirs) expect(await familyRevisions(family, "ACTIVE")).toBe(1);

    // The other deployment's janitor retires its own.
    const other = await runJanitor(
      { ecs },
      { config, cluster: env.cluster, familyScope: "bbbb2222", writesPerSecond: 1000 },
      new Date(),
    );
    expect(new Set(other.deleted)).toEqual(new Set(theirs.map((d) => d.arn)));
  });
});
