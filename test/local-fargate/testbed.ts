/**
 * What every local Fargate test file needs: the test images, a local Fargate in front of the suite's moto, a
 * cluster and a log group of its own, real SDK v3 clients pointed at the proxy, and a clean end.
 */

import { randomBytes } from "node:crypto";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  GetLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  type ContainerDefinition,
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  RunTaskCommand,
  type RunTaskCommandInput,
  type Task,
} from "@aws-sdk/client-ecs";
import {
  assertNothingLeftRunning,
  type LocalFargate,
  type LocalFargateOptions,
  startLocalFargate,
} from "../support/local-fargate/index.js";
import { type TestImage, testImages } from "./test-images.js";

export interface Testbed {
  fargate: LocalFargate;
  images: TestImage;
  ecs: ECSClient;
  logs: CloudWatchLogsClient;
  cluster: string;
  logGroup: string;
  /** A unique name with this prefix. */
  unique(prefix: string): string;
  /** Registers a Fargate task definition (256 CPU / 512 MiB, awsvpc, awslogs to the testbed's group). */
  register(
    containers: ContainerDefinition[],
    extra?: Partial<RegisterTaskDefinitionCommandInput>,
  ): Promise<string>;
  /** RunTask on the testbed's cluster with a network configuration; returns the task. */
  run(taskDefinition: string, extra?: Partial<RunTaskCommandInput>): Promise<Task>;
  /** DescribeTasks of one task. */
  describe(taskArn: string): Promise<Task>;
  /** Polls DescribeTasks until lastStatus is `status` (or STOPPED). */
  until(taskArn: string, status: string, timeoutMs?: number): Promise<Task>;
  /** The lines a container logged (awslogs stream `prefix/container/taskId`). */
  logLines(taskArn: string, container: string): Promise<string[]>;
  /** Waits until a container has logged `line` (e.g. a script saying it is ready). */
  logged(taskArn: string, container: string, line: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function motoEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) throw new Error("AWS_ENDPOINT_URL is not set: run under the integration project (moto)");
  return endpoint;
}

export async function startTestbed(options: Partial<LocalFargateOptions> = {}): Promise<Testbed> {
  const images = await testImages();
  const fargate = await startLocalFargate({
    motoEndpoint: motoEndpoint(),
    taskAddressEnv: ["TASK_IP"],
    ...options,
  });
  const client = { endpoint: fargate.endpoint, region: process.env.AWS_REGION ?? "us-east-1" };
  const ecs = new ECSClient({ ...client, maxAttempts: 1 });
  const logs = new CloudWatchLogsClient(client);
  const suffix = randomBytes(4).toString("hex");
  const unique = (prefix: string) => `${prefix}-${suffix}-${randomBytes(2).toString("hex")}`;
  const cluster = `lf-${suffix}`;
  const logGroup = `/local-fargate/${suffix}`;
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  await logs.send(new CreateLogGroupCommand({ logGroupName: logGroup }));

  const describe = async (taskArn: string) => {
    const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn], include: ["TAGS"] }));
    const task = out.tasks?.[0];
    if (!task) throw new Error(`DescribeTasks does not know ${taskArn}`);
    return task;
  };

  const logLines = async (taskArn: string, container: string): Promise<string[]> => {
    const id = taskArn.slice(taskArn.lastIndexOf("/") + 1);
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: logGroup,
        logStreamName: `lf/${container}/${id}`,
        startFromHead: true,
      }),
    );
    return (out.events ?? []).map((e) => e.message ?? "");
  };

  return {
    fargate,
    images,
    ecs,
    logs,
    cluster,
    logGroup,
    unique,
    async register(containers, extra = {}) {
      const out = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: unique("lf"),
          requiresCompatibilities: ["FARGATE"],
          networkMode: "awsvpc",
          cpu: "256",
          memory: "512",
          executionRoleArn: "arn:aws:iam::123456789012:role/exec",
          containerDefinitions: containers.map((c) => ({
            essential: true,
            logConfiguration: {
              logDriver: "awslogs",
              options: {
                "awslogs-group": logGroup,
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "lf",
              },
            },
            ...c,
          })),
          ...extra,
        }),
      );
      return out.taskDefinition!.taskDefinitionArn!;
    },
    async run(taskDefinition, extra = {}) {
      const out = await ecs.send(
        new RunTaskCommand({
          cluster,
          taskDefinition,
          launchType: extra.capacityProviderStrategy ? undefined : "FARGATE",
          networkConfiguration: {
            awsvpcConfiguration: { subnets: ["subnet-12345678"], assignPublicIp: "DISABLED" },
          },
          ...extra,
        }),
      );
      const task = out.tasks?.[0];
      if (!task) throw new Error(`RunTask started nothing: ${JSON.stringify(out.failures)}`);
      return task;
    },
    describe,
    async until(taskArn, status, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const task = await describe(taskArn);
        if (task.lastStatus === status || task.lastStatus === "STOPPED") return task;
        if (Date.now() > deadline) throw new Error(`task stayed ${task.lastStatus}, never ${status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    logLines,
    async logged(taskArn, container, line, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await logLines(taskArn, container).catch((): string[] => [])).includes(line)) {
        if (Date.now() > deadline) throw new Error(`container ${container} never logged '${line}'`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      const instance = fargate.instance;
      await fargate.stop();
      ecs.destroy();
      logs.destroy();
      await assertNothingLeftRunning(instance);
    },
  };
}
