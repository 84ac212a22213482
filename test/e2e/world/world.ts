/**
 * The whole product on this machine, deployed by nothing but code: the synthesized template created in moto, its
 * Lambda bundles running under the Lambda runtime interface emulator, its EventBridge rules routed to them, every
 * ECS task run as real containers by the local Fargate (the manager image and the helper image built from the
 * production Dockerfiles), and the GitLab coordinator simulator playing GitLab: the runner API, git over HTTP and
 * the Job Hook deliveries to the webhook's Function URL.
 *
 *   const world = await startWorld();
 *   const job = world.sendJob({ name: "build", script: ["echo hi"], image: "debian:bookworm-slim" });
 *   await world.waitForJob(job);
 *   await world.assertNothingLeftRunning();
 *   await world.stop();
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { DescribeTaskDefinitionCommand, ECSClient, StopTaskCommand } from "@aws-sdk/client-ecs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { EMULATED_ECR_HOST, registryAddress } from "../../../scripts/containers/env.js";
import { ensureImages } from "../../../scripts/images/build.js";
import { createDocumentClient } from "../../../src/config/aws-clients.js";
import { TASK_ADDRESS_ENV } from "../../../src/driver/backends/build-loop.js";
import type { FunctionName } from "../../../src/functions/catalog.js";
import { managerFamily } from "../../../src/infra/compute.js";
import { MANAGER_SK_PREFIX, type ManagerItem, runnerPk } from "../../../src/state/table.js";
import type { CfnTemplate } from "../../infra/cfn.js";
import { synthesize } from "../../infra/synth.js";
import { type ServedRepo, serveGitRepo } from "../../support/git-repo.js";
import { type JobHooks, sendJobHooks } from "../../support/gitlab-job-hooks.js";
import {
  type GitLabSim,
  type JobDefinition,
  type LongPollingMode,
  GitLabSim as Sim,
  type SimJob,
} from "../../support/gitlab-sim.js";
import { type FunctionUrl, startFunctionUrl } from "../../support/lambda/function-url.js";
import type { InvokeResult, LocalLambda } from "../../support/lambda/rie.js";
import {
  type LocalFargate,
  localFargateLeftovers,
  type PhaseDelays,
  type ProfileName,
  startLocalFargate,
  type TaskRecord,
} from "../../support/local-fargate/index.js";
import { type DeployedStack, deployTemplateToMoto, MOTO_ACCOUNT } from "../../support/moto-stack.js";
import { describeWorld } from "./diagnostics.js";
import { startStackFunctions } from "./functions.js";
import { type Routing, routeRules } from "./routing.js";

const run = promisify(execFile);

export interface WorldOptions {
  /** The local Fargate's phase delays. @default "fast" */
  profile?: ProfileName | PhaseDelays;
  /** Changes to the runner configuration the stack is synthesized from (name, tags, sizes, idle timeout…). */
  runner?: Record<string, unknown>;
  /** How GitLab answers an idle jobs/request (GitLabSim's LongPollingMode). @default "idealised" */
  longPolling?: LongPollingMode;
  /** How long the simulator holds an idle jobs/request open (ms). @default 2000 */
  longPollMs?: number;
  /** Files of the project's repository (served over smart HTTP); jobs clone it unless they name another. */
  repository?: Record<string, string>;
  /** Environment for every task's containers (the manager's tuning, e.g. SGR_DRAIN_POLL_MS). */
  containerEnvironment?: Record<string, string>;
  /** Progress of the start, for figures. */
  log?: (message: string) => void;
  /**
   * ECS Managed Instances for the jobs that ask for them: the stack is synthesized into a VPC of its own with private
   * subnets (what the configuration requires for them), and the local Fargate runs its capacity provider's tasks,
   * privileged allowed, after an instance start of `instanceStartMs`. The runner still has to opt in
   * (`runner.jobs.managedInstances`, `runner.jobs.allowPrivileged`).
   */
  managedInstances?: { instanceStartMs?: number };
}

export interface World {
  sim: GitLabSim;
  /** The project's repository, as GitLab serves it. */
  repo: ServedRepo;
  fargate: LocalFargate;
  hooks: JobHooks;
  routing: Routing;
  deployed: DeployedStack;
  /** The runner configuration the stack serves. */
  runnerName: string;
  lambdas: Record<FunctionName, LocalLambda>;
  /** GitLab queues a job: the simulator hands it to the runner, and Job Hooks go to the webhook. */
  sendJob(definition: JobDefinition, options?: { held?: boolean }): SimJob;
  /** Resolves when the runner reported the job's final state (and GitLab's hooks for it were answered). */
  waitForJob(job: SimJob, timeoutMs?: number): Promise<SimJob>;
  /** Manager tasks (the template's manager task definitions), in start order. */
  managers(): TaskRecord[];
  /** Job tasks (every other task), in start order. */
  jobTasks(): TaskRecord[];
  /** Every task the local Fargate ran. */
  tasks(): TaskRecord[];
  /** The managers' records in the state table (what the scheduler decides on). */
  managerRecords(): Promise<ManagerItem[]>;
  /** Stops the running managers as ECS stops a task (StopTask: SIGTERM, the manager drains); resolves once STOPPED. */
  stopManagers(reason: string): Promise<void>;
  /** One period of the scheduler Lambda (its schedule, on demand). */
  tick(): Promise<InvokeResult>;
  /** Throws, naming them, unless every task is STOPPED and no container, pod, volume or podman process is left. */
  assertNothingLeftRunning(): Promise<void>;
  stop(): Promise<void>;
}

/** The configuration a world's stack is synthesized from: one runner configuration, sized for this machine. */
function worldConfig(
  gitlabUrl: string,
  suffix: string,
  runner: Record<string, unknown> = {},
  network?: Record<string, unknown>,
) {
  return {
    gitlab: { url: gitlabUrl },
    ...(network ? { network } : {}),
    ssm: { webhookSecretParameter: `/sgr-e2e/${suffix}/webhook-secret` },
    runners: [
      {
        name: "e2e",
        tags: ["fargate"],
        runUntagged: true,
        runnerTokenParameter: `/sgr-e2e/${suffix}/runner-token`,
        concurrent: 25,
        idleTimeoutSeconds: 60,
        minRunningSeconds: 0,
        manager: { cpu: 512, memoryMiB: 1024, capacity: "FARGATE", architecture: "x86_64" },
        ...runner,
        // Job settings: these defaults, each of which a world may change alone.
        jobs: {
          defaultImage: "debian:bookworm-slim",
          defaultSize: { cpu: 256, memoryMiB: 512, ephemeralStorageGiB: 21 },
          capacity: "FARGATE",
          architectures: ["x86_64"],
          defaultArchitecture: "x86_64",
          ...(runner.jobs as Record<string, unknown> | undefined),
        },
      },
    ],
    schedulePeriodMinutes: 1,
  };
}

/**
 * Publishes the locally built images under the image asset URIs the deployed stack names, as `cdk deploy`
 * publishes its image assets to the bootstrap ECR repository: same repository and tag, in the local registry,
 * which mirrors the emulated account's ECR host (scripts/containers/env.ts).
 */
async function publishImageAssets(deployed: DeployedStack): Promise<void> {
  const built = await ensureImages();
  const ecs = new ECSClient({});
  const managerImages = await Promise.all(
    Object.values(deployed.managerTaskDefinitionArns).map(async (arn) => {
      const out = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
      return out.taskDefinition?.containerDefinitions?.[0]?.image ?? "";
    }),
  );
  ecs.destroy();
  const resources = deployed.managerResources;
  const helperImages = [resources.helperImage, resources.helperImages?.x86_64].filter(
    (i): i is string => !!i,
  );
  const copies = [
    ...managerImages.map((target) => [built.manager, target] as const),
    ...helperImages.map((target) => [built.helper, target] as const),
  ];
  for (const [source, target] of copies) {
    if (!target.startsWith(`${EMULATED_ECR_HOST}/`)) {
      throw new Error(`image ${target} is not in the emulated account's ECR (${EMULATED_ECR_HOST})`);
    }
    const local = `${registryAddress}/${target.slice(EMULATED_ECR_HOST.length + 1)}`;
    await run("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${source}`,
      `docker://${local}`,
    ]);
  }
}

/**
 * The private subnets Managed Instances require (no public address for tasks), as ids: nothing here checks that they
 * exist (moto does not, the local Fargate gives every task a loopback address of its own).
 */
const PRIVATE_NETWORK = {
  vpcId: "vpc-0e2e0000000000001",
  subnetIds: ["subnet-0e2e0000000000001"],
  assignPublicIp: false,
};

async function putSecrets(parameters: Record<string, string>): Promise<void> {
  const ssm = new SSMClient({});
  for (const [name, value] of Object.entries(parameters)) {
    await ssm.send(
      new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }),
    );
  }
  ssm.destroy();
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const motoEndpoint = process.env.AWS_ENDPOINT_URL;
  if (!motoEndpoint) throw new Error("AWS_ENDPOINT_URL must point at moto (the integration project's setup)");
  const suffix = randomBytes(3).toString("hex");
  const stackName = `SgrE2e${suffix}`;
  const stops: Array<() => Promise<unknown> | unknown> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  };

  try {
    const sim = await new Sim({
      longPolling: options.longPolling,
      longPollMs: options.longPollMs ?? 2_000,
    }).start();
    stops.push(() => sim.close());
    const runnerToken = sim.addRunner();
    const repo = await serveGitRepo(
      options.repository ?? { "README.md": "The project the end-to-end jobs build.\n" },
    );
    stops.push(() => repo.close());
    const webhookSecret = randomBytes(16).toString("hex");
    const network = options.managedInstances ? PRIVATE_NETWORK : undefined;
    const config = worldConfig(sim.url, suffix, options.runner, network);
    const runnerName = String(config.runners[0]!.name);

    const log = options.log ?? (() => undefined);
    const template = synthesize(config, stackName).template.toJSON() as CfnTemplate;
    log("synthesized");
    const deployed = await deployTemplateToMoto(template, stackName);
    log("deployed to moto");
    await putSecrets({
      [config.ssm.webhookSecretParameter]: webhookSecret,
      [String(config.runners[0]!.runnerTokenParameter)]: runnerToken,
    });
    await publishImageAssets(deployed);
    log("image assets published");

    const fargate = await startLocalFargate({
      motoEndpoint,
      profile: options.profile ?? "fast",
      // All tasks share the host network here: the agent listens on its task's address, and the job's services
      // bind it and are reached there (TASK_ADDRESS_ENV).
      taskAddressEnv: ["SGR_AGENT_HOST", TASK_ADDRESS_ENV],
      containerEnvironment: options.containerEnvironment,
      managedInstances: options.managedInstances && {
        capacityProviders: [deployed.managerResources.managedInstancesCapacityProvider ?? ""],
        instanceStartMs: options.managedInstances.instanceStartMs,
      },
    });
    stops.push(() => fargate.stop());

    const functions = await startStackFunctions(template, deployed.stackResources, {
      AWS_ENDPOINT_URL: fargate.endpoint,
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
      AWS_SESSION_TOKEN: "testing",
    });
    stops.push(() => Promise.all([...functions.values()].map((f) => f.lambda.stop())));
    const lambdas = Object.fromEntries([...functions].map(([name, f]) => [name, f.lambda])) as Record<
      FunctionName,
      LocalLambda
    >;

    log("functions started");
    const routing = await routeRules(ruleRoutes(template, deployed, functions));
    stops.push(() => routing.stop());
    const url: FunctionUrl = await startFunctionUrl(lambdas.webhook);
    stops.push(() => url.close());
    const hooks = sendJobHooks(sim, url.url, webhookSecret);
    stops.push(() => hooks.stop());

    const managerFamilies = new Set([managerFamily(stackName, runnerName)]);
    const isManager = (t: TaskRecord) => managerFamilies.has(familyOf(t.task.taskDefinitionArn));

    const world: World = {
      sim,
      repo,
      fargate,
      hooks,
      routing,
      deployed,
      runnerName,
      lambdas,
      sendJob: (definition, sendOptions) =>
        sim.enqueue({ git: { repoUrl: repo.url, sha: repo.sha, ref: repo.ref }, ...definition }, sendOptions),
      async waitForJob(job, timeoutMs = 180_000) {
        try {
          await sim.waitForFinal(job, timeoutMs);
        } catch (err) {
          // A job nobody took says little by itself: name what the product saw and did.
          throw new Error(`${(err as Error).message}\n${await describeWorld(world, job)}`);
        }
        await hooks.settled();
        return job;
      },
      managers: () => fargate.tasks().filter(isManager),
      jobTasks: () => fargate.tasks().filter((t) => !isManager(t)),
      tasks: () => fargate.tasks(),
      async managerRecords() {
        const db = createDocumentClient();
        const out = await db.send(
          new QueryCommand({
            TableName: deployed.managerResources.stateTableName,
            KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues: { ":pk": runnerPk(runnerName), ":prefix": MANAGER_SK_PREFIX },
            ConsistentRead: true,
          }),
        );
        db.destroy();
        return (out.Items ?? []) as ManagerItem[];
      },
      async stopManagers(reason) {
        const ecs = new ECSClient({ endpoint: fargate.endpoint });
        try {
          for (const { task } of world.managers().filter((m) => m.task.lastStatus !== "STOPPED")) {
            await ecs.send(new StopTaskCommand({ cluster: task.clusterArn, task: task.taskArn, reason }));
            await fargate.waitFor(task.taskArn!, "STOPPED", 150_000);
          }
        } finally {
          ecs.destroy();
        }
      },
      tick: () => lambdas.scheduler.invoke(scheduledEvent()),
      async assertNothingLeftRunning() {
        const running = fargate
          .tasks()
          .filter((t) => t.task.lastStatus !== "STOPPED")
          .map((t) => `${familyOf(t.task.taskDefinitionArn)} ${t.task.taskArn} (${t.task.lastStatus})`);
        if (running.length > 0) throw new Error(`tasks not stopped: ${running.join(", ")}`);
        // The running local Fargate keeps one podman process of its own (its `podman events` stream of container
        // exits); anything beyond it belongs to a task. A stopped task's followers get a few seconds to exit.
        const ownProcesses = 1;
        let left = await localFargateLeftovers(fargate.instance);
        for (let waited = 0; waited < 10_000 && left.processes > ownProcesses; waited += 250) {
          await new Promise((r) => setTimeout(r, 250));
          left = await localFargateLeftovers(fargate.instance);
        }
        const named = [...left.containers, ...left.pods, ...left.volumes];
        const taskProcesses = left.processes - ownProcesses;
        if (named.length > 0 || taskProcesses > 0) {
          throw new Error(
            `left behind: ${named.join(", ") || "no podman objects"}; ${taskProcesses} podman process(es)`,
          );
        }
      },
      stop: stopAll,
    };
    return world;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function familyOf(taskDefinitionArn: string | undefined): string {
  return (taskDefinitionArn ?? "").split("/").pop()?.split(":")[0] ?? "";
}

/** The event EventBridge Scheduler/rules deliver for a `rate(…)` schedule. */
function scheduledEvent(): Record<string, unknown> {
  return {
    version: "0",
    id: randomBytes(16).toString("hex"),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: MOTO_ACCOUNT,
    time: new Date().toISOString(),
    region: process.env.AWS_REGION ?? "us-east-1",
    resources: [],
    detail: {},
  };
}

/** Each rule of the template with an event pattern whose target was one of the stack's functions. */
function ruleRoutes(
  template: CfnTemplate,
  deployed: DeployedStack,
  functions: Awaited<ReturnType<typeof startStackFunctions>>,
) {
  const byLogicalId = new Map([...functions.values()].map((f) => [f.logicalId, f]));
  return Object.entries(template.Resources).flatMap(([logicalId, resource]) => {
    if (resource.Type !== "AWS::Events::Rule" || !resource.Properties?.EventPattern) return [];
    const targets = (resource.Properties.Targets ?? []) as Array<{
      Arn?: { "Fn::GetAtt"?: [string, string] };
    }>;
    const ruleName = deployed.stackResources.find(
      (r) => r.LogicalResourceId === logicalId,
    )?.PhysicalResourceId;
    if (!ruleName) throw new Error(`moto did not create rule ${logicalId}`);
    return targets.flatMap((target) => {
      const fn = byLogicalId.get(target.Arn?.["Fn::GetAtt"]?.[0] ?? "");
      if (!fn) return [];
      return [
        {
          ruleName: ruleName.split("/").pop()!,
          eventBusName: deployed.managerResources.eventBusName,
          lambda: fn.lambda,
          maximumRetryAttempts: fn.maximumRetryAttempts,
        },
      ];
    });
  });
}
