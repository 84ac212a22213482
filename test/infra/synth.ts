/**
 * Synthesizes the real stack in-process, the way `cdk synth` does (same cdk.json context), but offline and fast:
 * Lambda bundling is skipped (the `aws:cdk:bundling-stacks` context; `npm run synth` bundles for real) and Docker
 * image assets are only fingerprinted. A handler that does not exist yet gets placeholder code, and is reported.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { parseConfig } from "../../src/config/index.js";
import { FUNCTIONS, type FunctionName } from "../../src/functions/catalog.js";
import { PROJECT_ROOT } from "../../src/infra/images.js";
import { ServerlessGitlabRunnerStack, type ServerlessGitlabRunnerStackProps } from "../../src/infra/stack.js";

export interface Synthesized {
  app: App;
  stack: ServerlessGitlabRunnerStack;
  template: Template;
  /** Catalog functions whose handler file is missing (synthesized with placeholder code). */
  missingHandlers: FunctionName[];
}

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export function missingHandlerFiles(): FunctionName[] {
  return (Object.keys(FUNCTIONS) as FunctionName[]).filter(
    (name) => !existsSync(join(PROJECT_ROOT, FUNCTIONS[name])),
  );
}

export function synthesize(
  configInput: unknown,
  stackName = "SgrTest",
  runnerProps: ServerlessGitlabRunnerStackProps["runner"] = {},
): Synthesized {
  const app = new App({
    context: {
      ...cdkJsonContext(),
      "aws:cdk:bundling-stacks": [],
    },
  });
  const missingHandlers = missingHandlerFiles();
  const placeholder = lambda.Code.fromInline(
    "export const handler = async () => { throw new Error('not built'); };",
  );
  const stack = new ServerlessGitlabRunnerStack(app, stackName, {
    loaded: { config: parseConfig(configInput), input: configInput },
    // Environment-agnostic, like the app: account and region are resolved at deploy time, synth needs no lookup.
    runner: {
      ...runnerProps,
      functionCode: Object.fromEntries(missingHandlers.map((name) => [name, placeholder])),
    },
  });
  return { app, stack, template: Template.fromStack(stack), missingHandlers };
}
