/**
 * Where managers and jobs run: the ECS cluster (Fargate and Fargate Spot), one manager task definition per
 * runner configuration, and the roles the driver passes to the job tasks it registers.
 */
import { createHash } from "node:crypto";
import { Duration, type RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecr from "aws-cdk-lib/aws-ecr";
import { DockerImageAsset } from "aws-cdk-lib/aws-ecr-assets";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as ssm from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import {
  type Architecture,
  type Config,
  type RunnerConfig,
  runnerTokenParameterName,
} from "../config/index.js";
// The manager reads its token and runner name under these names; one definition for both sides.
import { RUNNER_TOKEN_ENV } from "../manager/settings.js";
import { dockerPlatform, HELPER_IMAGE, IMAGE_IGNORE_MODE, type ImageBuild, MANAGER_IMAGE } from "./images.js";

/**
 * This deployment's job family scope (`sgr-job-<scope>-*`, see jobFamilyPrefix): 8 hex digits of the stack name and
 * the construct's path, stable across deploys and different for every deployment in an account.
 */
export function jobFamilyScopeOf(construct: Construct): string {
  const stack = Stack.of(construct);
  const stackName = Token.isUnresolved(stack.stackName) ? "" : stack.stackName;
  return createHash("sha256").update(`${stackName}/${construct.node.path}`).digest("hex").slice(0, 8);
}
/** Fargate's largest stop timeout; longer jobs are protected by draining (docs/architecture.md), not by this. */
export const MANAGER_STOP_TIMEOUT = Duration.seconds(120);
/** Name of the manager's container in its task definition. */
export const MANAGER_CONTAINER_NAME = "manager";

export interface ComputeProps {
  config: Config;
  vpc: ec2.IVpc;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  containerInsights: boolean;
  /** Docker builds of the images; tests may point these at small fixtures. */
  managerImage?: ImageBuild;
  helperImage?: ImageBuild;
  /** Private ECR repositories (names, this account and region) that job images may be pulled from. */
  jobImageRepositories?: readonly string[];
  /** Private ECR repositories (names, this account and region) that job tasks may push images to. */
  jobImagePushRepositories?: readonly string[];
}

/** Manager task definition family of a runner configuration, unique per stack. */
export function managerFamily(stackName: string, runnerName: string): string {
  return `${stackName}-manager-${runnerName}`.slice(0, 255);
}

function ecsTasksPrincipal(scope: Construct): iam.IPrincipal {
  // Confused-deputy guard: only ECS acting for this account may assume the task roles.
  const stack = Stack.of(scope);
  return new iam.ServicePrincipal("ecs-tasks.amazonaws.com").withConditions({
    StringEquals: { "aws:SourceAccount": stack.account },
    ArnLike: { "aws:SourceArn": stack.formatArn({ service: "ecs", resource: "*" }) },
  });
}

export class Compute extends Construct {
  readonly cluster: ecs.Cluster;
  /** Role job tasks' containers run as: no permissions of its own; operators attach what their jobs need. */
  readonly jobTaskRole: iam.Role;
  /** Role ECS uses to pull job images (ECR, registry credentials) and write job logs. */
  readonly jobExecutionRole: iam.Role;
  readonly jobLogGroup: logs.LogGroup;
  readonly managerTaskRole: iam.Role;
  readonly managerExecutionRole: iam.Role;
  readonly managerLogGroup: logs.LogGroup;
  /** Helper image URI per job architecture. */
  readonly helperImageUris: Partial<Record<Architecture, string>> = {};
  /** Manager task definition per runner configuration name. */
  readonly managerTaskDefinitions: Record<string, ecs.FargateTaskDefinition> = {};
  /** SSM parameters of the runner tokens, per runner configuration name. */
  readonly runnerTokenParameters: Record<string, ssm.IStringParameter> = {};

  constructor(scope: Construct, id: string, props: ComputeProps) {
    super(scope, id);
    const { config } = props;

    this.cluster = new ecs.Cluster(this, "Cluster", {
      vpc: props.vpc,
      enableFargateCapacityProviders: true,
      containerInsightsV2: props.containerInsights
        ? ecs.ContainerInsights.ENABLED
        : ecs.ContainerInsights.DISABLED,
    });

    this.jobLogGroup = new logs.LogGroup(this, "JobLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.managerLogGroup = new logs.LogGroup(this, "ManagerLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    this.jobTaskRole = new iam.Role(this, "JobTaskRole", {
      assumedBy: ecsTasksPrincipal(this),
      description: "serverless-gitlab-runner job tasks (no permissions by default)",
    });
    this.jobExecutionRole = new iam.Role(this, "JobExecutionRole", {
      assumedBy: ecsTasksPrincipal(this),
      description: "serverless-gitlab-runner job tasks: image pull and logs",
    });
    this.jobLogGroup.grantWrite(this.jobExecutionRole);
    const registrySecrets = [
      ...new Set(config.runners.flatMap((r) => Object.values(r.jobs.registryCredentials))),
    ];
    if (registrySecrets.length > 0) {
      this.jobExecutionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: "ReadRegistryCredentials",
          actions: ["secretsmanager:GetSecretValue"],
          resources: registrySecrets,
        }),
      );
    }

    for (const name of props.jobImageRepositories ?? []) {
      ecr.Repository.fromRepositoryName(
        this,
        `JobImages-${name.replace(/[^A-Za-z0-9]/g, "-")}`,
        name,
      ).grantPull(this.jobExecutionRole);
    }

    this.grantJobImagePush(props.jobImagePushRepositories ?? []);

    const jobArchitectures = [...new Set(config.runners.flatMap((r) => r.jobs.architectures))].sort();
    for (const architecture of jobArchitectures) {
      const asset = this.imageAsset(
        `HelperImage-${architecture}`,
        props.helperImage ?? HELPER_IMAGE,
        architecture,
      );
      asset.repository.grantPull(this.jobExecutionRole);
      this.helperImageUris[architecture] = asset.imageUri;
    }

    this.managerTaskRole = new iam.Role(this, "ManagerTaskRole", {
      assumedBy: ecsTasksPrincipal(this),
      description: "serverless-gitlab-runner manager: starts and stops its job tasks",
    });
    this.managerExecutionRole = new iam.Role(this, "ManagerExecutionRole", {
      assumedBy: ecsTasksPrincipal(this),
      description: "serverless-gitlab-runner manager: image pull, logs, runner token",
    });

    for (const executionRole of [this.jobExecutionRole, this.managerExecutionRole]) {
      Validations.of(executionRole).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "ecr:GetAuthorizationToken (added by the image pull grant) supports no resource-level permission; " +
          "the pull actions themselves are limited to our image repository",
      });
    }

    const managerImages = new Map<Architecture, ecs.ContainerImage>();
    for (const runner of config.runners) {
      const architecture = runner.manager.architecture;
      if (!managerImages.has(architecture)) {
        const asset = this.imageAsset(
          `ManagerImage-${architecture}`,
          props.managerImage ?? MANAGER_IMAGE,
          architecture,
        );
        managerImages.set(architecture, ecs.ContainerImage.fromDockerImageAsset(asset));
      }
      this.addManager(runner, managerImages.get(architecture)!);
    }
  }

  /**
   * Lets job tasks push images to these repositories and nothing else: the registry login (account-wide by its
   * nature), the layer upload and `PutImage` on the repositories, and the two reads a builder makes there
   * (`BatchGetImage` for an existing manifest or its cache, `GetDownloadUrlForLayer` for a cached layer).
   */
  private grantJobImagePush(repositoryNames: readonly string[]): void {
    if (repositoryNames.length === 0) return;
    this.jobTaskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "RegistryLogin",
        actions: ["ecr:GetAuthorizationToken"],
        resources: ["*"],
      }),
    );
    Validations.of(this.jobTaskRole).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "ecr:GetAuthorizationToken supports no resource-level permission; the push actions are limited to the " +
        "repositories named in jobImagePushRepositories",
    });
    const stack = Stack.of(this);
    this.jobTaskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "PushJobImages",
        actions: [
          "ecr:BatchCheckLayerAvailability",
          "ecr:InitiateLayerUpload",
          "ecr:UploadLayerPart",
          "ecr:CompleteLayerUpload",
          "ecr:PutImage",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ],
        resources: repositoryNames.map((name) =>
          stack.formatArn({ service: "ecr", resource: "repository", resourceName: name }),
        ),
      }),
    );
  }

  private imageAsset(id: string, build: ImageBuild, architecture: Architecture): DockerImageAsset {
    return new DockerImageAsset(this, id, {
      directory: build.directory,
      file: build.file,
      exclude: [...build.exclude],
      ignoreMode: IMAGE_IGNORE_MODE,
      platform: dockerPlatform(architecture),
    });
  }

  private addManager(runner: RunnerConfig, image: ecs.ContainerImage): void {
    const tokenParameter = ssm.StringParameter.fromSecureStringParameterAttributes(
      this,
      `RunnerToken-${runner.name}`,
      {
        parameterName: runnerTokenParameterName(runner),
      },
    );
    this.runnerTokenParameters[runner.name] = tokenParameter;

    const taskDefinition = new ecs.FargateTaskDefinition(this, `Manager-${runner.name}`, {
      family: managerFamily(Stack.of(this).stackName, runner.name),
      cpu: runner.manager.cpu,
      memoryLimitMiB: runner.manager.memoryMiB,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture:
          runner.manager.architecture === "arm64" ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      },
      taskRole: this.managerTaskRole,
      executionRole: this.managerExecutionRole,
    });
    taskDefinition.addContainer(MANAGER_CONTAINER_NAME, {
      image,
      essential: true,
      // moto (tests) requires a container-level memory value; on Fargate it is only a soft reservation.
      memoryReservationMiB: runner.manager.memoryMiB,
      // ECS sends SIGTERM, the entrypoint turns it into SIGQUIT; jobs longer than this are covered by draining.
      stopTimeout: MANAGER_STOP_TIMEOUT,
      secrets: { [RUNNER_TOKEN_ENV]: ecs.Secret.fromSsmParameter(tokenParameter) },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.managerLogGroup, streamPrefix: runner.name }),
    });
    Validations.of(taskDefinition).acknowledge({
      id: "AwsSolutions-ECS2",
      reason:
        "The environment holds only non-secret settings (the validated configuration, resource identifiers, the " +
        "runner name); the runner token comes from SSM through `secrets`.",
    });
    this.managerTaskDefinitions[runner.name] = taskDefinition;
  }
}
