/**
 * Deploys a synthesized template into moto's CloudFormation, as far as moto implements the resource types, and
 * reads back what the deployed functions and manager tasks were given. Shared by the deployment test
 * (test/infra/moto-deploy.test.ts) and `npm run invoke -- --local` (scripts/invoke-local.ts).
 *
 * Adjustments made for moto, and only for it:
 *  - the Lambda code assets are uploaded to the CDK bootstrap bucket first (cdk deploy's asset publishing does that);
 *  - the bootstrap version parameter is put in SSM (cdk bootstrap does that);
 *  - the WebhookUrl output is dropped: it reads an attribute of AWS::Lambda::Url, which moto does not implement,
 *    and moto answers 500 to Fn::GetAtt on an unimplemented type in Outputs;
 *  - the archive's EventPattern is passed as a JSON string: moto's Archive parses only a string (CloudFormation
 *    takes the object the template has);
 *  - moto's CloudFormation registers a task definition with its containers only (no cpu, memory, network mode,
 *    compatibilities, platform or roles): each is registered again, at the same revision, with the template's
 *    task-level properties, so that RunTask on Fargate accepts it as ECS would;
 *  - moto's CloudFormation ignores a VPC's EnableDnsHostnames, and its RunTask then fails to name the task's network
 *    interface (a 500): the template's value is set again with ModifyVpcAttribute;
 *  - once created, the rules on our bus lose their Lambda targets: moto would try to run the function for every
 *    matching event (it cannot: no Docker here) and fail PutEvents with a 500. The functions are run by hand.
 * Every client takes its endpoint from AWS_ENDPOINT_URL, like the code under test.
 */
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackResourcesCommand,
  type StackResource,
} from "@aws-sdk/client-cloudformation";
import { EC2Client, ModifyVpcAttributeCommand } from "@aws-sdk/client-ec2";
import {
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import {
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  RemoveTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { parseResources, RESOURCES_ENV, type Resources } from "../../src/config/index.js";
import type { CfnTemplate } from "../infra/cfn.js";

/** The account moto answers as (its default). */
export const MOTO_ACCOUNT = "123456789012";

export interface DeployedStack {
  stackName: string;
  /** What moto created (a skipped resource appears as a blank entry: no logical id, no type). */
  stackResources: StackResource[];
  /** SGR_RESOURCES of the first manager task definition, as ECS holds it. */
  managerResources: Resources;
  /** Physical id (revision ARN) of each manager task definition, by logical id. */
  managerTaskDefinitionArns: Record<string, string>;
  /** SGR_RESOURCES and SGR_CONFIG of the webhook function, as Lambda holds them: what every function gets. */
  functionEnvironment: Record<string, string>;
  functionResources: Resources;
}

/** Puts an object for every S3 code asset the functions reference, in the bucket the template names. */
async function publishLambdaAssets(t: CfnTemplate): Promise<void> {
  const s3 = new S3Client({ forcePathStyle: true });
  const region = await s3.config.region();
  const bucket = `cdk-hnb659fds-assets-${MOTO_ACCOUNT}-${region}`;
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!/BucketAlready/.test((err as Error).name)) throw err;
  }
  for (const r of Object.values(t.Resources)) {
    if (r.Type !== "AWS::Lambda::Function") continue;
    const code = r.Properties?.Code as { S3Key?: string };
    if (!code.S3Key) continue;
    // moto stores the code without running it (no Docker); any bytes stand in for the bundle.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: code.S3Key, Body: "placeholder bundle" }));
  }
}

function forMoto(t: CfnTemplate): CfnTemplate {
  const copy = structuredClone(t);
  delete copy.Outputs?.WebhookUrl;
  for (const resource of Object.values(copy.Resources)) {
    if (resource.Type === "AWS::Events::Archive" && resource.Properties) {
      resource.Properties.EventPattern = JSON.stringify(resource.Properties.EventPattern);
    }
  }
  return copy;
}

/** A function's environment as moto's Lambda holds it (its REST API; the project has no Lambda SDK client). */
export async function functionEnvironment(functionName: string): Promise<Record<string, string>> {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) throw new Error("AWS_ENDPOINT_URL must point at moto");
  const response = await fetch(
    `${endpoint}/2015-03-31/functions/${encodeURIComponent(functionName)}/configuration`,
    // moto routes by the service in the credential scope; it does not check the signature.
    {
      headers: {
        authorization:
          "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
      },
    },
  );
  if (!response.ok)
    throw new Error(`moto Lambda GetFunctionConfiguration ${functionName}: ${response.status}`);
  const configuration = (await response.json()) as { Environment?: { Variables?: Record<string, string> } };
  return configuration.Environment?.Variables ?? {};
}

/** Removes the Lambda targets of every rule on the bus (see the header). */
async function detachLambdaTargets(eventBusName: string): Promise<void> {
  const events = new EventBridgeClient({});
  const { Rules = [] } = await events.send(new ListRulesCommand({ EventBusName: eventBusName }));
  for (const rule of Rules) {
    const { Targets = [] } = await events.send(
      new ListTargetsByRuleCommand({ Rule: rule.Name, EventBusName: eventBusName }),
    );
    const lambdaTargets = Targets.filter((t) => t.Arn?.includes(":lambda:")).map((t) => t.Id!);
    if (lambdaTargets.length === 0) continue;
    await events.send(
      new RemoveTargetsCommand({ Rule: rule.Name, EventBusName: eventBusName, Ids: lambdaTargets }),
    );
  }
}

/** A role's ARN from `Fn::GetAtt [role, Arn]` (moto's physical id of a role is its name). */
function roleArn(value: unknown, stackResources: readonly StackResource[]): string | undefined {
  const logicalId = (value as { "Fn::GetAtt"?: [string, string] } | undefined)?.["Fn::GetAtt"]?.[0];
  if (typeof value === "string") return value;
  const name = stackResources.find((r) => r.LogicalResourceId === logicalId)?.PhysicalResourceId;
  return name ? `arn:aws:iam::${MOTO_ACCOUNT}:role/${name}` : undefined;
}

/** Registers each task definition again, at its revision, with the template's task-level properties (see above). */
async function completeTaskDefinitions(
  t: CfnTemplate,
  stackResources: readonly StackResource[],
): Promise<void> {
  const ecs = new ECSClient({});
  for (const [logicalId, resource] of Object.entries(t.Resources)) {
    if (resource.Type !== "AWS::ECS::TaskDefinition") continue;
    const arn = stackResources.find((r) => r.LogicalResourceId === logicalId)?.PhysicalResourceId;
    if (!arn) continue;
    const registered = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn })))
      .taskDefinition!;
    const p = resource.Properties ?? {};
    const platform = p.RuntimePlatform as
      | { CpuArchitecture?: string; OperatingSystemFamily?: string }
      | undefined;
    await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
    await ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: [arn] }));
    const again = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: registered.family!,
        containerDefinitions: registered.containerDefinitions,
        volumes: registered.volumes,
        cpu: p.Cpu === undefined ? undefined : String(p.Cpu),
        memory: p.Memory === undefined ? undefined : String(p.Memory),
        networkMode: p.NetworkMode as "awsvpc" | undefined,
        requiresCompatibilities: p.RequiresCompatibilities as "FARGATE"[] | undefined,
        runtimePlatform: platform && {
          cpuArchitecture: platform.CpuArchitecture as "X86_64" | "ARM64",
          operatingSystemFamily: platform.OperatingSystemFamily as "LINUX",
        },
        executionRoleArn: roleArn(p.ExecutionRoleArn, stackResources),
        taskRoleArn: roleArn(p.TaskRoleArn, stackResources),
      }),
    );
    if (again.taskDefinition?.taskDefinitionArn !== arn) {
      throw new Error(`re-registering ${arn} gave ${again.taskDefinition?.taskDefinitionArn}`);
    }
  }
  ecs.destroy();
}

/** Sets each template VPC's EnableDnsHostnames again (see above). */
async function applyVpcDnsHostnames(t: CfnTemplate, stackResources: readonly StackResource[]): Promise<void> {
  const ec2 = new EC2Client({});
  for (const [logicalId, resource] of Object.entries(t.Resources)) {
    if (resource.Type !== "AWS::EC2::VPC" || resource.Properties?.EnableDnsHostnames !== true) continue;
    const vpcId = stackResources.find((r) => r.LogicalResourceId === logicalId)?.PhysicalResourceId;
    if (vpcId)
      await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: true } }));
  }
  ec2.destroy();
}

export async function deployTemplateToMoto(template: CfnTemplate, stackName: string): Promise<DeployedStack> {
  await publishLambdaAssets(template);
  await new SSMClient({}).send(
    new PutParameterCommand({
      Name: "/cdk-bootstrap/hnb659fds/version",
      Value: "30",
      Type: "String",
      Overwrite: true,
    }),
  );
  const cfn = new CloudFormationClient({});
  await cfn.send(
    new CreateStackCommand({
      StackName: stackName,
      TemplateBody: JSON.stringify(forMoto(template)),
      Capabilities: ["CAPABILITY_IAM"],
    }),
  );
  const stackResources =
    (await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }))).StackResources ?? [];
  await completeTaskDefinitions(template, stackResources);
  await applyVpcDnsHostnames(template, stackResources);
  const physicalIds = (type: string) =>
    stackResources
      .filter((r) => r.ResourceType === type)
      .map((r) => [r.LogicalResourceId!, r.PhysicalResourceId!] as const);

  const managerTaskDefinitionArns = Object.fromEntries(physicalIds("AWS::ECS::TaskDefinition"));
  const [firstManager] = Object.values(managerTaskDefinitionArns);
  if (!firstManager) throw new Error(`stack ${stackName} has no manager task definition`);
  const described = await new ECSClient({}).send(
    new DescribeTaskDefinitionCommand({ taskDefinition: firstManager }),
  );
  const managerEnv = described.taskDefinition?.containerDefinitions?.[0]?.environment ?? [];
  const managerResources = parseResources(
    JSON.parse(managerEnv.find((e) => e.name === RESOURCES_ENV)?.value ?? "null"),
  );

  const webhook = physicalIds("AWS::Lambda::Function").find(([logicalId]) => /webhook/i.test(logicalId));
  if (!webhook) throw new Error(`stack ${stackName} has no webhook function`);
  const environment = await functionEnvironment(webhook[1]);
  await detachLambdaTargets(managerResources.eventBusName);
  return {
    stackName,
    stackResources,
    managerResources,
    managerTaskDefinitionArns,
    functionEnvironment: environment,
    functionResources: parseResources(JSON.parse(environment[RESOURCES_ENV] ?? "null")),
  };
}
