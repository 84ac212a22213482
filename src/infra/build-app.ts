/**
 * The CDK app as `cdk synth`/`cdk deploy` build it: one stack from the validated configuration, and cdk-nag's
 * AwsSolutions checks registered as a validation plugin, so any unacknowledged finding fails the synth (the
 * report is `validation-report.json` in the output directory; an empty `pluginReports` means no finding).
 */
import { type App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { AppOptions } from "./app-options.js";
import { ServerlessGitlabRunnerStack } from "./stack.js";
import type { LoadedConfig } from "./user-config.js";

export function buildApp(
  app: App,
  options: Omit<AppOptions, "configPath">,
  loaded: Pick<LoadedConfig, "config" | "input">,
): ServerlessGitlabRunnerStack {
  const stack = new ServerlessGitlabRunnerStack(app, options.stackName, {
    loaded,
    description: "serverless-gitlab-runner: GitLab CI jobs on ECS Fargate with zero idle compute",
    runner: {
      retainData: options.retainData,
      jobImageRepositories: options.jobImageRepositories,
      jobImagePushRepositories: options.jobImagePushRepositories,
      serializeScheduler: options.serializeScheduler,
      webhookReservedConcurrency: options.webhookReservedConcurrency,
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
