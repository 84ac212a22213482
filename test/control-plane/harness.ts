/**
 * A private moto for the control-plane tests, with ECS tasks frozen in RUNNING (the state-manager setting
 * is server-wide, so it must not touch the shared moto other test files use), plus the AWS resources one
 * test needs: state table, cluster, manager task definitions, default-VPC subnets.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeSubnetsCommand, EC2Client } from "@aws-sdk/client-ec2";
import {
  CreateClusterCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { NodeHttpHandler } from "@smithy/node-http-handler";
import { AWS_CLIENT_SETTINGS } from "../../src/config/aws-clients.js";
import {
  type Config,
  type ConfigInput,
  parseConfig,
  parseResources,
  type Resources,
} from "../../src/config/index.js";
import type { ControlPlaneDeps, GitLabJobsApi, MetricsSink } from "../../src/control-plane/deps.js";
import { managerStartedBy } from "../../src/control-plane/manager-tasks.js";
import type { ControlPlaneClients } from "../../src/control-plane/runtime.js";
import { type MotoServer, startMoto } from "../support/moto.js";
import { createStateTable } from "../support/state-table.js";
import { FaultInjectingHandler } from "./fault-injection.js";

export interface PrivateMoto {
  moto: MotoServer;
  endpoint: string;
}

export async function startPrivateMoto(): Promise<PrivateMoto> {
  const moto = await startMoto();
  const res = await fetch(`${moto.endpoint}/moto-api/state-manager/set-transition`, {
    method: "POST",
    body: JSON.stringify({
      model_name: "ecs::task",
      transition: { progression: "manual", times: 1_000_000 },
    }),
  });
  if (!res.ok) throw new Error(`could not freeze ECS task transitions: ${res.status}`);
  return { moto, endpoint: moto.endpoint };
}

const credentials = { accessKeyId: "testing", secretAccessKey: "testing", sessionToken: "testing" };

/** SDK clients against the private moto, every request passing through one fault injector. */
export function clientsFor(endpoint: string, faults = new FaultInjectingHandler()) {
  const common = {
    ...AWS_CLIENT_SETTINGS,
    endpoint,
    region: "us-east-1",
    credentials,
    // The production retry policy (standard mode, 5 attempts), with faults injected below it.
    requestHandler: faults as unknown as NodeHttpHandler,
  };
  const dynamo = new DynamoDBClient(common);
  const clients: ControlPlaneClients = {
    db: DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }),
    ecs: new ECSClient(common),
    ssm: new SSMClient(common),
  };
  return {
    clients,
    faults,
    raw: { dynamo, ecs: clients.ecs, ec2: new EC2Client({ endpoint, region: "us-east-1", credentials }) },
  };
}

let counter = 0;
export const uniqueName = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export interface Fixture {
  config: Config;
  resources: Resources;
  clients: ControlPlaneClients;
  faults: FaultInjectingHandler;
  metrics: { name: string; value: number }[];
  logs: { level: string; message: string; extra: unknown }[];
  clock: { now: number };
  gitlab: GitLabJobsApi | undefined;
  deps: ControlPlaneDeps;
  ecs: ECSClient;
  /** Manager tasks of a runner that ECS (moto) still runs. */
  runningManagers(runnerName: string): Promise<string[]>;
}

export async function createFixture(
  endpoint: string,
  configInput: Partial<ConfigInput> & Pick<ConfigInput, "runners">,
): Promise<Fixture> {
  const { clients, faults, raw } = clientsFor(endpoint);
  const tableName = uniqueName("sgr-state");
  const cluster = uniqueName("sgr-cluster");
  await createStateTable(tableName, raw.dynamo);
  const clusterArn = (await raw.ecs.send(new CreateClusterCommand({ clusterName: cluster }))).cluster!
    .clusterArn!;
  const subnets = await raw.ec2.send(
    new DescribeSubnetsCommand({ Filters: [{ Name: "default-for-az", Values: ["true"] }] }),
  );
  const subnetIds = (subnets.Subnets ?? []).map((s) => s.SubnetId!).slice(0, 2);
  if (subnetIds.length === 0) throw new Error("moto has no default-VPC subnets");
  const config = parseConfig({ gitlab: { url: "https://gitlab.example.com" }, ...configInput });
  const managerTaskDefinitions: Record<string, string> = {};
  for (const runner of config.runners) {
    const family = uniqueName(`sgr-manager-${runner.name}`);
    const td = await raw.ecs.send(
      new RegisterTaskDefinitionCommand({
        family,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "512",
        memory: "1024",
        containerDefinitions: [
          {
            name: "manager",
            image: "example/manager:test",
            // moto's RunTask needs a container-level memory value.
            memory: 1024,
            secrets: [
              {
                name: "RUNNER_TOKEN",
                valueFrom: `arn:aws:ssm:us-east-1:123456789012:parameter/sgr/${runner.name}/runner-token`,
              },
            ],
          },
        ],
      }),
    );
    managerTaskDefinitions[runner.name] = td.taskDefinition!.taskDefinitionArn!;
  }
  const resources = parseResources({
    eventBusName: "bus",
    stateTableName: tableName,
    clusterArn,
    subnetIds,
    managerSecurityGroupIds: ["sg-0123456789abcdef0"],
    managerTaskDefinitions,
  });
  const metrics: Fixture["metrics"] = [];
  const logs: Fixture["logs"] = [];
  const clock = { now: Date.UTC(2026, 10, 27, 12, 0, 0) };
  const logAt =
    (level: string) =>
    (message: unknown, ...extra: unknown[]) => {
      logs.push({ level, message: String(message), extra });
    };
  const sink: MetricsSink = {
    count: (name, value = 1) => metrics.push({ name, value }),
    seconds: (name, value) => metrics.push({ name, value }),
  };
  const fixture: Fixture = {
    config,
    resources,
    clients,
    faults,
    metrics,
    logs,
    clock,
    gitlab: undefined,
    ecs: raw.ecs,
    deps: undefined as unknown as ControlPlaneDeps,
    async runningManagers(runnerName: string) {
      const out = await raw.ecs.send(
        new ListTasksCommand({
          cluster: clusterArn,
          startedBy: managerStartedBy(runnerName),
          desiredStatus: "RUNNING",
        }),
      );
      return out.taskArns ?? [];
    },
  };
  fixture.deps = {
    config,
    resources,
    db: clients.db,
    ecs: clients.ecs,
    gitlab: async () => fixture.gitlab,
    now: () => clock.now,
    logger: {
      debug: logAt("debug"),
      info: logAt("info"),
      warn: logAt("warn"),
      error: logAt("error"),
    } as ControlPlaneDeps["logger"],
    metrics: sink,
  };
  return fixture;
}

export const metricCount = (fixture: Fixture, name: string) =>
  fixture.metrics.filter((m) => m.name === name).reduce((sum, m) => sum + m.value, 0);
