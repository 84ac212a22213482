/**
 * The stack's Lambda functions run as Lambda runs them (test/support/lambda/rie.ts), each with what the deployed
 * template gave it: its bundle (scripts/bundle.ts, the CDK's esbuild options), handler, timeout, memory, the
 * environment moto's Lambda holds for it, and the retries of its asynchronous invocations (EventInvokeConfig).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { StackResource } from "@aws-sdk/client-cloudformation";
import { bundleFunctions } from "../../../scripts/bundle.js";
import { FUNCTIONS, type FunctionName } from "../../../src/functions/catalog.js";
import type { CfnTemplate } from "../../infra/cfn.js";
import { type LocalLambda, startLambda } from "../../support/lambda/rie.js";
import { functionEnvironment } from "../../support/moto-stack.js";

export interface StackFunction {
  name: FunctionName;
  logicalId: string;
  physicalName: string;
  lambda: LocalLambda;
  /** MaximumRetryAttempts of its asynchronous invocations (Lambda's default: 2). */
  maximumRetryAttempts: number;
}

let bundled: Promise<Map<FunctionName, string>> | undefined;
/** Bundles every function once per process; the task root of each. */
function bundles(): Promise<Map<FunctionName, string>> {
  bundled ??= bundleFunctions(mkdtempSync(join(tmpdir(), "sgr-e2e-bundles-"))).then((results) => {
    const roots = new Map<FunctionName, string>();
    for (const result of results) {
      if (result.status !== "built") throw new Error(`${result.name} was not bundled: ${result.reason}`);
      roots.set(result.name, dirname(result.outfile));
    }
    return roots;
  });
  return bundled;
}

/** The catalog name of a function resource: CDK's logical id holds the construct id without its dash. */
function catalogName(logicalId: string): FunctionName | undefined {
  return (Object.keys(FUNCTIONS) as FunctionName[]).find((name) =>
    new RegExp(`Functions${name.replace(/-/g, "")}[0-9A-F]{8}$`).test(logicalId),
  );
}

function refOf(value: unknown): string | undefined {
  return (value as { Ref?: string } | undefined)?.Ref;
}

export async function startStackFunctions(
  template: CfnTemplate,
  stackResources: readonly StackResource[],
  /** Added to every function's environment (the AWS endpoint and credentials of this world). */
  extraEnvironment: Record<string, string>,
): Promise<Map<FunctionName, StackFunction>> {
  const roots = await bundles();
  const functions = new Map<FunctionName, StackFunction>();
  const retries = new Map<string, number>();
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== "AWS::Lambda::EventInvokeConfig") continue;
    const target = refOf(resource.Properties?.FunctionName);
    if (target) retries.set(target, Number(resource.Properties?.MaximumRetryAttempts ?? 2));
  }
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== "AWS::Lambda::Function") continue;
    const name = catalogName(logicalId);
    if (!name) continue;
    const physicalName = stackResources.find((r) => r.LogicalResourceId === logicalId)?.PhysicalResourceId;
    if (!physicalName) throw new Error(`moto did not create ${logicalId}`);
    const properties = resource.Properties ?? {};
    const lambda = startLambda({
      name: physicalName,
      taskRoot: roots.get(name)!,
      handler: String(properties.Handler ?? "index.handler"),
      timeoutSeconds: Number(properties.Timeout ?? 3),
      memoryMiB: Number(properties.MemorySize ?? 128),
      environment: { ...(await functionEnvironment(physicalName)), ...extraEnvironment },
      maxConcurrency: properties.ReservedConcurrentExecutions
        ? Number(properties.ReservedConcurrentExecutions)
        : 10,
    });
    functions.set(name, {
      name,
      logicalId,
      physicalName,
      lambda,
      maximumRetryAttempts: retries.get(logicalId) ?? 2,
    });
  }
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    if (!functions.has(name)) throw new Error(`the template has no ${name} function`);
  }
  return functions;
}
