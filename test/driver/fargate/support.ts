/**
 * Shared setup of the fargate backend's integration tests against moto: real SDK v3 clients, a cluster of the
 * test's own, the default VPC's subnet, and unique names so test files sharing one moto server never collide.
 * Tests that sweep account-wide state (the janitor) use a moto account of their own (x-moto-account-id).
 */
import { randomUUID } from "node:crypto";
import { DescribeSubnetsCommand, EC2Client } from "@aws-sdk/client-ec2";
import {
  CreateClusterCommand,
  ECSClient,
  type RegisterTaskDefinitionCommandInput,
} from "@aws-sdk/client-ecs";
import type { JobTaskShape } from "../../../src/driver/backend.js";
import type { JobTaskDefinitionSettings } from "../../../src/driver/backends/fargate/layout.js";
import type { EcsApi } from "../../../src/fargate/ecs.js";

export const REGION = "us-east-1";

/** SDK clients routed to one moto account (moto keeps each account's state apart). */
export function clientsForAccount(accountId?: string): { ecs: ECSClient; ec2: EC2Client } {
  const ecs = new ECSClient({ region: REGION });
  const ec2 = new EC2Client({ region: REGION });
  if (accountId) {
    const header = (request: unknown) => {
      const headers = (request as { headers?: Record<string, string> }).headers;
      if (headers) headers["x-moto-account-id"] = accountId;
    };
    ecs.middlewareStack.add(
      (next) => async (args) => {
        header(args.request);
        return next(args);
      },
      { step: "build", name: "motoAccount" },
    );
    ec2.middlewareStack.add(
      (next) => async (args) => {
        header(args.request);
        return next(args);
      },
      { step: "build", name: "motoAccount" },
    );
  }
  return { ecs, ec2 };
}

/** Wraps a client so a test can count the commands it sent, by command name. */
export function countingClient(ecs: EcsApi): { ecs: EcsApi; sent: { name: string; input: unknown }[] } {
  const sent: { name: string; input: unknown }[] = [];
  const counting: EcsApi = {
    send: ((command: { constructor: { name: string }; input: unknown }, ...rest: unknown[]) => {
      sent.push({ name: command.constructor.name, input: command.input });
      return (ecs.send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as EcsApi["send"],
  };
  return { ecs: counting, sent };
}

export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface TestCluster {
  cluster: string;
  subnetId: string;
  securityGroupId: string;
}

export async function createTestCluster(
  ecs: ECSClient,
  ec2: EC2Client,
  name = unique("sgr-test"),
): Promise<TestCluster> {
  await ecs.send(new CreateClusterCommand({ clusterName: name }));
  const subnets = await ec2.send(
    new DescribeSubnetsCommand({ Filters: [{ Name: "default-for-az", Values: ["true"] }] }),
  );
  const subnetId = subnets.Subnets?.[0]?.SubnetId;
  if (!subnetId) throw new Error("moto has no default subnet");
  return { cluster: name, subnetId, securityGroupId: "sg-0123456789abcdef0" };
}

export const testDefinitionSettings: JobTaskDefinitionSettings = {
  region: REGION,
  logGroupName: "/sgr/test-jobs",
  executionRoleArn: "arn:aws:iam::123456789012:role/sgr-job-execution",
  taskRoleArn: "arn:aws:iam::123456789012:role/sgr-job-task",
};

/** A job shape with an image no other test uses, so its family is the test's own. */
export function uniqueShape(overrides: Partial<JobTaskShape> = {}): JobTaskShape {
  return {
    build: { name: "build", image: `registry.example.com/tests/${randomUUID()}:1` },
    services: [],
    architecture: "x86_64",
    helperImage: "123456789012.dkr.ecr.us-east-1.amazonaws.com/sgr-helper:1.0.0",
    ...overrides,
  };
}

/** The smallest Fargate task definition moto accepts: one container, Fargate's minimum size. */
export function minimalFargateDefinition(
  family: string,
  container: { name: string; image: string; memoryReservation: number },
): RegisterTaskDefinitionCommandInput {
  return {
    family,
    requiresCompatibilities: ["FARGATE"],
    networkMode: "awsvpc",
    cpu: "256",
    memory: "512",
    containerDefinitions: [container],
  };
}
