/**
 * The product's Lambda functions, built from `src/functions/catalog.ts` with the same esbuild options as
 * `scripts/bundle.ts` (local esbuild, no Docker), arm64, on the pinned Node major.
 */
import { join } from "node:path";
import { Annotations, Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { BUNDLE_OPTIONS, FUNCTIONS, type FunctionName, LAMBDA_NODE_MAJOR } from "../functions/catalog.js";
import { METRIC_NAMESPACE } from "../observability/metric-names.js";
import { PROJECT_ROOT } from "./images.js";

/** Runtime matching the pinned Node major; a catalog change without a CDK runtime fails synth loudly. */
export function lambdaRuntime(major: number = LAMBDA_NODE_MAJOR): lambda.Runtime {
  const runtime = (lambda.Runtime as unknown as Record<string, lambda.Runtime | undefined>)[
    `NODEJS_${major}_X`
  ];
  if (!runtime) throw new Error(`aws-cdk-lib has no Lambda runtime nodejs${major}.x; upgrade aws-cdk-lib`);
  return runtime;
}

/** Per-function settings: what each one needs to do its job within its timeout. */
const FUNCTION_SETTINGS: Record<FunctionName, { memoryMiB: number; timeout: Duration; description: string }> =
  {
    webhook: {
      memoryMiB: 256,
      timeout: Duration.seconds(10),
      description: "GitLab webhook → job events on the bus",
    },
    "scale-up": {
      memoryMiB: 256,
      timeout: Duration.seconds(60),
      description: "Pending job → one runner manager",
    },
    "job-status": {
      memoryMiB: 256,
      timeout: Duration.seconds(30),
      description: "Job status → job records and metrics",
    },
    scheduler: {
      memoryMiB: 256,
      timeout: Duration.seconds(50),
      description: "Idle stop, reconcile, over-age managers, janitor",
    },
  };

/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * Size of an environment once CloudFormation has resolved it, estimated before deploy: every reference
 * (a name, an ARN, a URL) counted at 110 characters, more than any of ours resolves to.
 */
export function estimateEnvironmentBytes(stack: Stack, environment: Record<string, string>): number {
  return Object.entries(environment)
    .map(
      ([key, value]) =>
        key.length +
        JSON.stringify(stack.resolve(value)).replace(
          /\{"(Ref|Fn::GetAtt|Fn::Sub)":[^{}]*\}/g,
          "x".repeat(110),
        ).length,
    )
    .reduce((a, b) => a + b, 0);
}

export interface FunctionsProps {
  /** Environment every function gets (SGR_CONFIG, SGR_RESOURCES). */
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  /** Code to use instead of bundling the catalog entry (tests, or a function whose handler is not written yet). */
  code?: Partial<Record<FunctionName, lambda.Code>>;
}

export class Functions extends Construct {
  readonly functions: Record<FunctionName, NodejsFunction>;
  readonly roles: Record<FunctionName, iam.Role>;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const estimated = estimateEnvironmentBytes(Stack.of(this), props.environment) + 200; // + per-function variables
    if (estimated > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
      // CloudFormation would fail mid-deploy; say why before anything is deployed.
      Annotations.of(this).addWarningV2(
        "sgr:lambda-environment-size",
        `SGR_CONFIG + SGR_RESOURCES may exceed Lambda's ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte environment limit ` +
          `(estimated ${estimated}); leave defaults out of the configuration file to shrink it.`,
      );
    }
    const functions: Partial<Record<FunctionName, NodejsFunction>> = {};
    const roles: Partial<Record<FunctionName, iam.Role>> = {};
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      const settings = FUNCTION_SETTINGS[name];
      const logGroup = new logs.LogGroup(this, `${name}-logs`, {
        retention: props.logRetention,
        removalPolicy: props.removalPolicy,
      });
      // An own role with only this log group instead of the AWSLambdaBasicExecutionRole managed policy (any group).
      const role = new iam.Role(this, `${name}-role`, {
        assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
        description: `serverless-gitlab-runner ${name} function`,
      });
      logGroup.grantWrite(role);
      const override = props.code?.[name];
      functions[name] = new NodejsFunction(this, name, {
        description: settings.description,
        runtime: lambdaRuntime(),
        architecture: lambda.Architecture.ARM_64,
        memorySize: settings.memoryMiB,
        timeout: settings.timeout,
        role,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment: {
          ...props.environment,
          POWERTOOLS_SERVICE_NAME: name,
          POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
          // No --enable-source-maps: it costs cold starts (measured +7 ms on the webhook bundle, +70 ms on the ~1 MB
          // ones); the maps ship in the asset, so set NODE_OPTIONS=--enable-source-maps on a function to debug it.
        },
        ...(override
          ? { code: override, handler: "index.handler" }
          : {
              entry: join(PROJECT_ROOT, FUNCTIONS[name]),
              handler: "handler",
              projectRoot: PROJECT_ROOT,
              depsLockFilePath: join(PROJECT_ROOT, "package-lock.json"),
              bundling: {
                format: OutputFormat.ESM,
                target: BUNDLE_OPTIONS.target,
                minify: BUNDLE_OPTIONS.minify,
                sourceMap: BUNDLE_OPTIONS.sourcemap,
                mainFields: [...BUNDLE_OPTIONS.mainFields],
                banner: BUNDLE_OPTIONS.banner,
                // Bundle the SDK too: the same bytes as scripts/bundle.ts, not whatever SDK the runtime ships.
                externalModules: [],
                forceDockerBundling: false,
              },
            }),
      });
      roles[name] = role;
    }
    this.functions = functions as Record<FunctionName, NodejsFunction>;
    this.roles = roles as Record<FunctionName, iam.Role>;
  }
}
