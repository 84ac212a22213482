/**
 * The deployable stack: the construct plus the outputs an operator needs next (webhook URL, the SSM
 * parameters to fill, the next command).
 */
import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { ServerlessGitlabRunner, type ServerlessGitlabRunnerProps } from "./serverless-gitlab-runner.js";
import type { LoadedConfig } from "./user-config.js";

export interface ServerlessGitlabRunnerStackProps extends StackProps {
  loaded: Pick<LoadedConfig, "config" | "input">;
  /** Passed through to the construct (everything but the configuration). */
  runner?: Omit<ServerlessGitlabRunnerProps, "config" | "configInput">;
}

export class ServerlessGitlabRunnerStack extends Stack {
  readonly runner: ServerlessGitlabRunner;

  constructor(scope: Construct, id: string, props: ServerlessGitlabRunnerStackProps) {
    super(scope, id, props);
    this.runner = new ServerlessGitlabRunner(this, "Runner", {
      ...props.runner,
      config: props.loaded.config,
      configInput: props.loaded.input,
    });

    new CfnOutput(this, "WebhookUrl", {
      description:
        "Add this URL as a GitLab webhook (Job events, with the secret token from the webhook secret parameter)",
      value: this.runner.webhookUrl,
    });
    new CfnOutput(this, "SsmParametersToFill", {
      description:
        "SecureString parameters to create before jobs run (the runner token(s), the webhook secret)",
      value: this.runner.requiredParameterNames.join(","),
    });
    new CfnOutput(this, "CacheBucketName", {
      description:
        "S3 bucket of the runner cache (empty it before deleting a stack deployed with retainData=false)",
      value: this.runner.storage.cacheBucket.bucketName,
    });
    new CfnOutput(this, "NextStep", {
      description: "What to do next",
      value:
        "For each parameter in SsmParametersToFill: aws ssm put-parameter --type SecureString --name <name> --value <secret>; " +
        "then add WebhookUrl as a GitLab webhook with 'Job events' and the webhook secret as its secret token.",
    });
  }
}
