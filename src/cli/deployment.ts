/**
 * What the CLI knows about a deployed stack: the webhook URL (stack output `WebhookUrl`) and the deployed
 * resource identifiers. The latter are read from the environment (`SGR_RESOURCES`) of the stack's manager
 * task definitions, which the CDK app writes for the manager itself: one source of truth, no extra output.
 */
import {
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from "@aws-sdk/client-cloudformation";
import { DescribeTaskDefinitionCommand, type DescribeTaskDefinitionCommandOutput } from "@aws-sdk/client-ecs";
import { parseResources, RESOURCES_ENV, type Resources } from "../config/index.js";
import { RUNNER_NAME_ENV } from "../manager/settings.js";

export { DEFAULT_STACK_NAME } from "../infra/app-options.js";

import type { AwsClients } from "./clients.js";
import { awsError, CliError, EXIT } from "./exit-codes.js";

export const WEBHOOK_URL_OUTPUT = "WebhookUrl";

export interface ManagerTaskDefinition {
  runnerName: string;
  arn: string;
  images: string[];
}

export interface Deployment {
  stackName: string;
  webhookUrl: string;
  resources: Resources;
  managerTaskDefinitions: ManagerTaskDefinition[];
}

export async function loadDeployment(
  aws: Pick<AwsClients, "cfn" | "ecs" | "region">,
  stackName: string,
): Promise<Deployment> {
  const outputs = await stackOutputs(aws, stackName);
  const webhookUrl = outputs[WEBHOOK_URL_OUTPUT];
  if (!webhookUrl) {
    throw new CliError(
      `stack ${stackName} has no ${WEBHOOK_URL_OUTPUT} output`,
      EXIT.checkFailed,
      "deploy the current version (npm run deploy) or name the right stack with --stack",
    );
  }
  const summaries = await stackResources(aws, stackName);
  const managerTaskDefinitions: ManagerTaskDefinition[] = [];
  let resourcesJson: string | undefined;
  for (const summary of summaries) {
    if (summary.ResourceType !== "AWS::ECS::TaskDefinition" || !summary.PhysicalResourceId) continue;
    let out: DescribeTaskDefinitionCommandOutput;
    try {
      out = await aws.ecs.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: summary.PhysicalResourceId }),
      );
    } catch (err) {
      throw awsError(`reading task definition ${summary.PhysicalResourceId}`, err);
    }
    const containers = out.taskDefinition?.containerDefinitions ?? [];
    const env = new Map(containers.flatMap((c) => c.environment ?? []).map((e) => [e.name, e.value]));
    const runnerName = env.get(RUNNER_NAME_ENV);
    if (!runnerName) continue; // a job or helper task definition, not a manager
    resourcesJson ??= env.get(RESOURCES_ENV);
    managerTaskDefinitions.push({
      runnerName,
      arn: summary.PhysicalResourceId,
      images: containers.map((c) => c.image).filter((i): i is string => Boolean(i)),
    });
  }
  if (!resourcesJson) {
    throw new CliError(
      `stack ${stackName} has no manager task definition carrying ${RESOURCES_ENV}`,
      EXIT.checkFailed,
      "deploy the current version of the stack (npm run deploy)",
    );
  }
  let resources: Resources;
  try {
    resources = parseResources(JSON.parse(resourcesJson), `${RESOURCES_ENV} of stack ${stackName}`);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.checkFailed, "redeploy the stack (npm run deploy)");
  }
  return { stackName, webhookUrl, resources, managerTaskDefinitions };
}

async function stackOutputs(aws: Pick<AwsClients, "cfn" | "region">, stackName: string) {
  try {
    const out = await aws.cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    return Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""]));
  } catch (err) {
    if ((err as { name?: string }).name === "ValidationError" || /does not exist/.test(String(err))) {
      throw new CliError(
        `stack ${stackName} not found in ${aws.region}`,
        EXIT.checkFailed,
        "deploy it first (npm run deploy), or pass --stack <name> / --region <region>",
      );
    }
    throw awsError(`reading stack ${stackName}`, err);
  }
}

async function stackResources(
  aws: Pick<AwsClients, "cfn">,
  stackName: string,
): Promise<StackResourceSummary[]> {
  const all: StackResourceSummary[] = [];
  let NextToken: string | undefined;
  try {
    do {
      const page = await aws.cfn.send(new ListStackResourcesCommand({ StackName: stackName, NextToken }));
      all.push(...(page.StackResourceSummaries ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (err) {
    throw awsError(`listing the resources of stack ${stackName}`, err);
  }
  return all;
}
