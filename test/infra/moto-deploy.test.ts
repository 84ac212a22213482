/**
 * Deploys the synthesized template into moto's CloudFormation (test/support/moto-stack.ts, the mechanism
 * `npm run invoke -- --local` uses too), as far as moto supports the resource types, and checks that what
 * CloudFormation resolved fits together: SGR_RESOURCES of the manager task and of the functions (with real
 * physical ids) parse with the shared schema and name resources that exist.
 *
 * moto skips resource types it does not implement (the stack still completes); the test lists them, so a moto
 * upgrade that adds one shows up here. The bus is referenced with Fn::GetAtt Name in the real template already
 * (moto's Ref to a bus is broken).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CloudFormationClient,
  DeleteStackCommand,
  DescribeStacksCommand,
  type StackResource,
} from "@aws-sdk/client-cloudformation";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeClustersCommand, DescribeTaskDefinitionCommand, ECSClient } from "@aws-sdk/client-ecs";
import { DescribeEventBusCommand, EventBridgeClient, ListRulesCommand } from "@aws-sdk/client-eventbridge";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Resources } from "../../src/config/index.js";
import { JOB_STATUS_PATTERN, PENDING_JOB_PATTERN } from "../../src/events/patterns.js";
import { PROJECT_ROOT } from "../../src/infra/images.js";
import { type DeployedStack, deployTemplateToMoto } from "../support/moto-stack.js";
import type { CfnTemplate } from "./cfn.js";
import { synthesize } from "./synth.js";

/** Types in our template that moto's CloudFormation does not implement (skipped, with a warning, at create). */
const UNSUPPORTED_BY_MOTO = [
  "AWS::CloudWatch::Alarm",
  "AWS::ECS::ClusterCapacityProviderAssociations",
  "AWS::Lambda::EventInvokeConfig",
  "AWS::Lambda::Url",
  "AWS::S3::BucketPolicy",
  "AWS::SQS::QueuePolicy",
];

const stackName = `SgrMoto${Date.now().toString(36)}`;
const cfn = new CloudFormationClient({});
let template: CfnTemplate;
let deployed: DeployedStack;
let stackResources: StackResource[];
let resources: Resources;
let managerTaskDefinitionArn: string;

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

beforeAll(async () => {
  const input: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, "config/example.json"), "utf8"));
  template = synthesize(input, stackName).template.toJSON() as CfnTemplate;
  deployed = await deployTemplateToMoto(template, stackName);
  stackResources = deployed.stackResources;
  resources = deployed.managerResources;
  managerTaskDefinitionArn = Object.values(deployed.managerTaskDefinitionArns)[0]!;
}, 180_000);

afterAll(async () => {
  try {
    await cfn.send(new DeleteStackCommand({ StackName: stackName }));
  } catch (err) {
    // moto deletes in template order and refuses the VPC before its subnets; the names are unique, so leftovers are harmless.
    console.info(`moto could not delete ${stackName}: ${(err as Error).message}`);
  }
});

describe("the template deployed into moto's CloudFormation", () => {
  it("completes", async () => {
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    expect(stack?.StackStatus).toBe("CREATE_COMPLETE");
    expect(stack?.Outputs?.map((o) => o.OutputKey).sort()).toEqual([
      "CacheBucketName",
      "NextStep",
      "SsmParametersToFill",
    ]);
  });

  it("creates every resource moto implements, and skips exactly the types listed as unsupported", () => {
    // moto lists a skipped resource as a blank entry (no logical id, no type).
    const created = stackResources.filter((r) => r.LogicalResourceId);
    const skippedTypes = new Set(
      Object.entries(template.Resources)
        .filter(([id]) => !created.some((r) => r.LogicalResourceId === id))
        .map(([, r]) => r.Type),
    );
    console.info(`moto does not implement: ${[...skippedTypes].sort().join(", ")}`);
    expect([...skippedTypes].sort()).toEqual(UNSUPPORTED_BY_MOTO);
    const supportedCount = Object.values(template.Resources).filter(
      (r) => !UNSUPPORTED_BY_MOTO.includes(r.Type),
    ).length;
    expect(created).toHaveLength(supportedCount);
  });

  it("resolves SGR_RESOURCES to identifiers of resources that exist", async () => {
    const table = await new DynamoDBClient({}).send(
      new DescribeTableCommand({ TableName: resources.stateTableName }),
    );
    expect(table.Table?.KeySchema).toEqual([
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ]);
    expect(table.Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");

    const bus = await new EventBridgeClient({}).send(
      new DescribeEventBusCommand({ Name: resources.eventBusName }),
    );
    expect(bus.Name).toBe(resources.eventBusName);

    const clusters = await new ECSClient({}).send(
      new DescribeClustersCommand({ clusters: [resources.clusterArn] }),
    );
    expect(clusters.clusters?.map((c) => c.clusterArn)).toEqual([resources.clusterArn]);

    // moto answers with an AWS-hosted queue URL; send to the endpoint, not to that host.
    const queue = await new SQSClient({ useQueueUrlAsEndpoint: false }).send(
      new GetQueueAttributesCommand({
        QueueUrl: resources.deadLetterQueueUrl,
        AttributeNames: ["MessageRetentionPeriod"],
      }),
    );
    expect(queue.Attributes?.MessageRetentionPeriod).toBe("1209600");
    // The manager starts no managers; the functions start each one by the revision CloudFormation created.
    expect(resources.managerTaskDefinitions).toEqual({});
    expect(managerTaskDefinitionArn).toMatch(/:task-definition\/[\w-]+-manager-default:\d+$/);
    expect(deployed.functionResources).toEqual({
      ...resources,
      managerTaskDefinitions: { default: managerTaskDefinitionArn },
    });
    expect(resources.subnetIds.every((id) => id.startsWith("subnet-"))).toBe(true);
    expect(resources.jobTaskRoleArn).toMatch(/^arn:aws:iam::123456789012:role\//);
  });

  it("puts the job-event rules on the deployed bus with the shared patterns", async () => {
    const rules = await new EventBridgeClient({}).send(
      new ListRulesCommand({ EventBusName: resources.eventBusName }),
    );
    // The archive adds its own managed rule (Events-Archive-<name>) to the bus: proof the archive exists too.
    const [archiveRules, ourRules] = partition(
      rules.Rules ?? [],
      (r) => r.Name?.startsWith("Events-Archive-") ?? false,
    );
    expect(archiveRules).toHaveLength(1);
    const patterns = ourRules.map((r) => JSON.parse(r.EventPattern ?? "null"));
    expect(patterns).toHaveLength(2);
    expect(patterns).toContainEqual(PENDING_JOB_PATTERN);
    expect(patterns).toContainEqual(JOB_STATUS_PATTERN);
  });

  it("gives the manager task its token by SSM reference, not by value", async () => {
    const described = await new ECSClient({}).send(
      new DescribeTaskDefinitionCommand({ taskDefinition: managerTaskDefinitionArn }),
    );
    const container = described.taskDefinition?.containerDefinitions?.[0];
    expect(container?.secrets).toEqual([
      {
        name: "RUNNER_TOKEN",
        valueFrom: expect.stringMatching(/:parameter\/serverless-gitlab-runner\/default\/runner-token$/),
      },
    ]);
    expect(container?.environment?.map((e) => e.name).sort()).toEqual([
      "SGR_CONFIG",
      "SGR_RESOURCES",
      "SGR_RUNNER_NAME",
    ]);
  });
});
