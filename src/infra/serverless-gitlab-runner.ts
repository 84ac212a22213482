/**
 * The whole product as one construct: GitLab webhook → EventBridge → scale-up → one Fargate runner manager per
 * runner configuration → one Fargate task per job, and nothing running (nothing billed per hour) when idle.
 */
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as sns from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import {
  type Architecture,
  CONFIG_ENV,
  type Config,
  RESOURCES_ENV,
  type Resources,
  runnerTokenParameterName,
} from "../config/index.js";
import { JOB_STATUS_PATTERN, PENDING_JOB_PATTERN, toCdkEventPattern } from "../events/patterns.js";
import type { FunctionName } from "../functions/catalog.js";
import { RUNNER_NAME_ENV } from "../manager/settings.js";
import { Compute, jobFamilyScopeOf } from "./compute.js";
import { EventPlumbing } from "./events.js";
import { Functions } from "./functions.js";
import type { ImageBuild } from "./images.js";
import { ManagedInstancesCapacity, type ManagedInstancesProps } from "./managed-instances.js";
import { Monitoring } from "./monitoring.js";
import { Network } from "./network.js";
import * as grants from "./permissions.js";
import { Storage } from "./storage.js";

export interface ServerlessGitlabRunnerProps {
  /** The validated configuration (`parseConfig` from `src/config`). */
  readonly config: Config;
  /**
   * The configuration as the user wrote it, passed to functions and tasks as SGR_CONFIG (they validate it again
   * and apply the same defaults). Smaller than the defaulted form: Lambda environments are capped at 4 KB.
   * @default the validated `config`
   */
  readonly configInput?: unknown;
  /**
   * How long logs (functions, managers, jobs, VPC flow log) are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Keep the state table, cache bucket and log groups when the stack is deleted.
   * Set false for throw-away stacks (the bucket must be empty before deletion).
   * @default true
   */
  readonly retainData?: boolean;
  /**
   * Age after which cache objects expire.
   * @default Duration.days(14)
   */
  readonly cacheExpiration?: Duration;
  /**
   * Bucket that receives S3 server access logs of the cache bucket.
   * @default no access logs (the cache is rebuildable and only our task role reaches it)
   */
  readonly cacheAccessLogsBucket?: s3.IBucket;
  /**
   * How long the event archive keeps job events for replay.
   * @default Duration.days(7)
   */
  readonly eventArchiveRetention?: Duration;
  /**
   * Also give the scheduler a reserved concurrency of 1. Not needed: a lease in the state table already runs one
   * period at a time (and its conditional writes keep it correct anyway). Accounts whose Lambda concurrency limit
   * is 10 cannot reserve any: the deploy fails there.
   * @default false
   */
  readonly serializeScheduler?: boolean;
  /**
   * Reserve (and so cap) this many concurrent executions for the webhook, whose Function URL is public: a flood of
   * unauthenticated requests then cannot use up the account's Lambda concurrency, and GitLab's deliveries keep
   * room when other functions are busy. Off by default: Lambda keeps at least 100 executions of an account
   * unreserved, so accounts whose limit is still the new-account 10 cannot reserve any, and the deploy fails
   * there. Set it once the account's limit is raised; each delivery takes tens of milliseconds, so 10 serves
   * hundreds of deliveries a second. Between 1 and 1000.
   * @default no reservation
   */
  readonly webhookReservedConcurrency?: number;
  /**
   * Turn on CloudWatch Container Insights for the cluster (metrics are billed only while tasks run).
   * @default true
   */
  readonly containerInsights?: boolean;
  /**
   * SNS topic notified when an alarm fires.
   * @default no notification (alarms are visible in the console and the dashboard)
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Rejected webhook deliveries within 5 minutes that raise the webhook-rejections alarm.
   * @default 5
   */
  readonly webhookRejectionThreshold?: number;
  /**
   * Existing VPC to place tasks in, instead of `config.network` (subnets still come from `config.network.subnetIds`
   * or, for a VPC created here, its public subnets).
   * @default from `config.network`: the VPC `vpcId` names, or a new VPC with public subnets only and no NAT gateway
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Private ECR repositories (names, in the stack's account and region) whose images jobs may use in `image:` or
   * `services:`; the job execution role gets pull rights on exactly these. Public images need nothing.
   * @default none
   */
  readonly jobImageRepositories?: string[];
  /**
   * Private ECR repositories (names, in the stack's account and region) that jobs may push images to, e.g. from an
   * image build with kaniko (templates/image-build.gitlab-ci.yml); the job task role gets
   * `ecr:GetAuthorizationToken` and, on exactly these repositories, the layer upload actions, `PutImage`, and the
   * reads that a build cache and a registry's existing layers need (docs/limitations.md).
   * @default none: job tasks may push nowhere
   */
  readonly jobImagePushRepositories?: string[];
  /**
   * Lambda code to use instead of bundling a catalog handler (tests; a function whose handler is not written yet).
   * @default every function is bundled from its entry in src/functions/catalog.ts with esbuild
   */
  readonly functionCode?: Partial<Record<FunctionName, lambda.Code>>;
  /**
   * Docker builds of the manager and helper images.
   * @default images/manager/Dockerfile and images/helper/Dockerfile with the repository as build context
   */
  readonly images?: { manager?: ImageBuild; helper?: ImageBuild };
  /**
   * ECS Managed Instances for privileged (`docker:dind`) and GPU jobs: EC2 instances AWS launches, patches and
   * removes when idle. Runner configurations opt in with `jobs.managedInstances` and `jobs.allowPrivileged`.
   * @default created with default settings when a runner configuration enables `jobs.managedInstances` (with GPU
   * instances when one allows GPUs); otherwise none
   */
  readonly managedInstances?: ManagedInstancesProps;
}

export class ServerlessGitlabRunner extends Construct {
  readonly network: Network;
  readonly storage: Storage;
  readonly eventPlumbing: EventPlumbing;
  readonly compute: Compute;
  readonly functions: Functions;
  readonly monitoring: Monitoring;
  /** URL to register as the GitLab project/group webhook (Job events). */
  readonly webhookUrl: string;
  /** SSM SecureString parameters the operator must fill before jobs can run. */
  readonly requiredParameterNames: string[];
  /** Identifiers every function and manager task receives as SGR_RESOURCES. */
  readonly resources: Resources;
  /** This deployment's part of its job task-definition family names: `sgr-job-<jobFamilyScope>-<hash>`. */
  readonly jobFamilyScope: string;
  /** The Managed Instances capacity, when privileged or GPU jobs are configured. */
  readonly managedInstances?: ManagedInstancesCapacity;

  constructor(scope: Construct, id: string, props: ServerlessGitlabRunnerProps) {
    super(scope, id);
    const { config } = props;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const removalPolicy = props.retainData === false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const stack = Stack.of(this);

    this.network = new Network(this, "Network", {
      network: config.network,
      logRetention,
      removalPolicy,
      vpc: props.vpc,
    });
    this.storage = new Storage(this, "Storage", {
      removalPolicy,
      cacheExpiration: props.cacheExpiration ?? Duration.days(14),
      cacheAccessLogsBucket: props.cacheAccessLogsBucket,
    });
    this.eventPlumbing = new EventPlumbing(this, "Events", {
      archiveRetention: props.eventArchiveRetention ?? Duration.days(7),
      removalPolicy,
    });
    this.compute = new Compute(this, "Compute", {
      config,
      vpc: this.network.vpc,
      logRetention,
      removalPolicy,
      containerInsights: props.containerInsights ?? true,
      managerImage: props.images?.manager,
      helperImage: props.images?.helper,
      jobImageRepositories: props.jobImageRepositories,
      jobImagePushRepositories: props.jobImagePushRepositories,
    });
    const { deadLetterQueue } = this.eventPlumbing;
    const { cluster } = this.compute;
    this.jobFamilyScope = jobFamilyScopeOf(this);
    const managedInstances = managedInstancesSettings(config, props.managedInstances);
    if (managedInstances) {
      this.managedInstances = new ManagedInstancesCapacity(this, "ManagedInstances", {
        ...managedInstances,
        cluster,
        vpc: this.network.vpc,
        subnets: this.network.subnets,
      });
    }

    this.resources = {
      eventBusName: this.eventPlumbing.busName,
      stateTableName: this.storage.stateTable.tableName,
      clusterArn: cluster.clusterArn,
      subnetIds: this.network.subnets.map((subnet) => subnet.subnetId),
      managerSecurityGroupIds: [this.network.managerSecurityGroup.securityGroupId],
      jobSecurityGroupIds: [this.network.jobSecurityGroup.securityGroupId],
      assignPublicIp: this.network.assignPublicIp,
      // Revision-pinned ARNs (a task definition's Ref), so a revision registered later in a manager's family is
      // never started. The manager task itself gets none: it starts no managers, and a task definition cannot
      // carry its own ARN in its environment.
      managerTaskDefinitions: Object.fromEntries(
        Object.entries(this.compute.managerTaskDefinitions).map(([name, td]) => [name, td.taskDefinitionArn]),
      ),
      deadLetterQueueUrl: deadLetterQueue.queueUrl,
      cacheBucketName: this.storage.cacheBucket.bucketName,
      channelSecretsBucketName: this.storage.channelSecretsBucket.bucketName,
      jobTaskRoleArn: this.compute.jobTaskRole.roleArn,
      jobExecutionRoleArn: this.compute.jobExecutionRole.roleArn,
      jobLogGroupName: this.compute.jobLogGroup.logGroupName,
      jobFamilyScope: this.jobFamilyScope,
      helperImage: defaultHelperImage(config, this.compute.helperImageUris),
      helperImages: this.compute.helperImageUris,
      managedInstancesCapacityProvider: this.managedInstances?.capacityProviderName,
      managedInstancesGpuCapacityProvider: this.managedInstances?.gpuCapacityProviderName,
    };
    const configEnvironment = JSON.stringify(props.configInput ?? config);
    const environment = {
      [CONFIG_ENV]: configEnvironment,
      [RESOURCES_ENV]: stack.toJsonString(this.resources),
    };
    const managerResources: Resources = { ...this.resources, managerTaskDefinitions: {} };

    for (const [runnerName, taskDefinition] of Object.entries(this.compute.managerTaskDefinitions)) {
      const container = taskDefinition.defaultContainer!;
      container.addEnvironment(CONFIG_ENV, configEnvironment);
      container.addEnvironment(RESOURCES_ENV, stack.toJsonString(managerResources));
      container.addEnvironment(RUNNER_NAME_ENV, runnerName);
    }
    // ECS reads the runner token with the execution role; a SecureString under the operator's own key needs this.
    grants.attachStatements(
      this.compute.managerExecutionRole,
      grants.decryptParametersViaSsm(this, config.runners.map(runnerTokenParameterName)),
    );
    grants.attachStatements(
      this.compute.managerTaskRole,
      grants.managerTaskPermissions(
        this,
        cluster,
        [this.compute.jobTaskRole, this.compute.jobExecutionRole],
        this.storage.stateTable,
        this.storage.cacheBucket,
        this.jobFamilyScope,
      ),
    );
    const { channelSecretsBucket } = this.storage;
    grants.attachStatements(
      this.compute.managerTaskRole,
      grants.adoptSpeculativeJobTasks(this, cluster, channelSecretsBucket),
    );
    grants.attachStatements(this.compute.jobExecutionRole, grants.readSecretFiles(channelSecretsBucket));

    this.functions = new Functions(this, "Functions", {
      environment,
      logRetention,
      removalPolicy,
      code: props.functionCode,
    });
    this.grantFunctionPermissions(config);
    this.webhookUrl = this.wireFunctions(props.serializeScheduler ?? false, config.schedulePeriodMinutes);
    if (props.webhookReservedConcurrency !== undefined) {
      (
        this.functions.functions.webhook.node.defaultChild as lambda.CfnFunction
      ).reservedConcurrentExecutions = webhookReservation(props.webhookReservedConcurrency);
    }

    this.monitoring = new Monitoring(this, "Monitoring", {
      functions: this.functions.functions,
      deadLetterQueue,
      webhookRejectionThreshold: props.webhookRejectionThreshold ?? 5,
      alarmTopic: props.alarmTopic,
    });

    this.requiredParameterNames = [
      config.ssm.webhookSecretParameter,
      ...(config.ssm.webhookSigningTokenParameter ? [config.ssm.webhookSigningTokenParameter] : []),
      ...(config.ssm.gitlabApiTokenParameter ? [config.ssm.gitlabApiTokenParameter] : []),
      ...config.runners.map(runnerTokenParameterName),
    ];
  }

  private grantFunctionPermissions(config: Config): void {
    const { roles } = this.functions;
    const { stateTable } = this.storage;
    const { bus, deadLetterQueue } = this.eventPlumbing;
    const { cluster, managerTaskRole, managerExecutionRole } = this.compute;
    const managerTaskDefinitionArns = Object.values(this.compute.managerTaskDefinitions).map(
      (td) => td.taskDefinitionArn,
    );
    const apiToken = config.ssm.gitlabApiTokenParameter ? [config.ssm.gitlabApiTokenParameter] : [];
    const webhookSecrets = [
      config.ssm.webhookSecretParameter,
      ...(config.ssm.webhookSigningTokenParameter ? [config.ssm.webhookSigningTokenParameter] : []),
    ];
    const startManagers = () =>
      grants.startManagers(this, cluster, managerTaskDefinitionArns, [managerTaskRole, managerExecutionRole]);

    const byFunction: Record<FunctionName, ReturnType<typeof grants.useStateTable>[]> = {
      // Verify, dedupe, publish; dead-letter what the bus refused.
      webhook: [
        ...grants.readParameters(this, webhookSecrets),
        grants.useStateTable(stateTable),
        grants.putJobEvents(bus),
        grants.sendDeadLetters(deadLetterQueue),
      ],
      // Take the slot, start the manager, check on a stale one.
      "scale-up": [
        grants.useStateTable(stateTable),
        ...startManagers(),
        ...grants.watchAndStopTasks(this, cluster),
        ...grants.readParameters(this, apiToken),
        ...grants.startSpeculativeJobTasks(
          this,
          cluster,
          this.jobFamilyScope,
          [this.compute.jobTaskRole, this.compute.jobExecutionRole],
          this.storage.channelSecretsBucket,
        ),
      ],
      "job-status": [grants.useStateTable(stateTable)],
      // Idle stop, crashed/over-age managers, reconcile (may start a manager), janitor.
      scheduler: [
        grants.useStateTable(stateTable),
        ...grants.watchAndStopTasks(this, cluster),
        ...startManagers(),
        ...grants.retireJobTaskDefinitions(this, this.jobFamilyScope),
        ...grants.readParameters(this, apiToken),
        grants.putJobEvents(bus),
      ],
    };
    for (const [name, statements] of Object.entries(byFunction) as [
      FunctionName,
      typeof byFunction.webhook,
    ][]) {
      grants.attachStatements(roles[name], statements);
    }
  }

  /** Connects the functions to their triggers; returns the webhook URL. */
  private wireFunctions(serializeScheduler: boolean, schedulePeriodMinutes: number): string {
    const fns = this.functions.functions;
    const { bus, deadLetterQueue } = this.eventPlumbing;

    // GitLab cannot sign requests with SigV4, so the URL is public; the handler authenticates every delivery
    // (secret token / signature from SSM) before anything else.
    const url = fns.webhook.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    // Async invocations (rules, schedule): Lambda retries twice, then the event goes to the dead-letter queue.
    for (const name of ["scale-up", "job-status", "scheduler"] as const) {
      fns[name].configureAsyncInvoke({
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
        onFailure: new SqsDestination(deadLetterQueue),
      });
    }
    // What EventBridge itself cannot deliver (e.g. throttled or deleted function) also lands in the queue.
    const target = (fn: lambda.IFunction) =>
      new targets.LambdaFunction(fn, {
        deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
      });

    const pendingRule = new events.Rule(this, "PendingJobToScaleUp", {
      eventBus: bus,
      description: "A pending GitLab job starts a runner manager if none serves it",
      eventPattern: toCdkEventPattern(PENDING_JOB_PATTERN),
      targets: [target(fns["scale-up"])],
    });
    const statusRule = new events.Rule(this, "AnyJobStatusToJobStatus", {
      eventBus: bus,
      description: "Every GitLab job status change updates job records and metrics",
      eventPattern: toCdkEventPattern(JOB_STATUS_PATTERN),
      targets: [target(fns["job-status"])],
    });
    for (const rule of [pendingRule, statusRule]) {
      (rule.node.defaultChild as events.CfnRule).eventBusName = this.eventPlumbing.busName;
    }
    new events.Rule(this, "SchedulerPeriod", {
      description: "Idle stop, reconcile, over-age managers and janitor",
      schedule: events.Schedule.rate(Duration.minutes(schedulePeriodMinutes)),
      targets: [target(fns.scheduler)],
    });
    if (serializeScheduler) {
      (fns.scheduler.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = 1;
    }
    return url.url;
  }
}

/** Lambda refuses a reservation that leaves fewer than 100 executions of the account unreserved. */
const MAX_WEBHOOK_RESERVATION = 1000;

function webhookReservation(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_WEBHOOK_RESERVATION) {
    throw new Error(
      `webhookReservedConcurrency must be an integer from 1 to ${MAX_WEBHOOK_RESERVATION}, not ${value}`,
    );
  }
  return value;
}

/** The helper image for jobs that name no architecture: the first runner's default architecture. */
function defaultHelperImage(config: Config, uris: Partial<Record<Architecture, string>>): string | undefined {
  const preferred = config.runners[0]?.jobs.defaultArchitecture;
  return (preferred && uris[preferred]) ?? Object.values(uris)[0];
}

/** The Managed Instances settings to deploy: the ones given, else defaults when a runner configuration uses them. */
export function managedInstancesSettings(
  config: Config,
  given: ManagedInstancesProps | undefined,
): ManagedInstancesProps | undefined {
  const jobs = config.runners.map((runner) => runner.jobs.managedInstances);
  if (!given && !jobs.some((settings) => settings.enabled)) return undefined;
  const settings = given ?? {};
  return jobs.some((job) => job.maxGpus > 0) && !settings.gpu ? { ...settings, gpu: {} } : settings;
}
