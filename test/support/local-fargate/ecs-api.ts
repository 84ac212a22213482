/**
 * The ECS task-lifecycle calls the local Fargate serves itself (RunTask, DescribeTasks, ListTasks, StopTask and
 * the tag calls on task ARNs), with ECS's validation and error texts. Task definitions and clusters stay in moto
 * and are read from there; RegisterTaskDefinition is checked against Fargate's limits before moto sees it.
 */
import { randomBytes } from "node:crypto";
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  ListTaskDefinitionsCommand,
  type RunTaskCommandInput,
  type Task,
  type TaskDefinition,
} from "@aws-sdk/client-ecs";
import { clientError, EcsError, invalidParameter } from "./ecs-errors.js";
import { checkContainerForFargate, checkFargateTaskDefinition, checkOverrides } from "./fargate-limits.js";
import type { Faults } from "./faults.js";
import type { MotoClients } from "./moto-clients.js";
import { type RuntimeContext, TaskRuntime } from "./task-runtime.js";

/** RunTask's clientToken is honoured this long, as on ECS. */
const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
const CAPACITY_UNAVAILABLE =
  "Capacity is unavailable at this time. Please try again later or in a different availability zone";

type Json = Record<string, unknown>;

export class EcsTaskApi {
  readonly tasks = new Map<string, TaskRuntime>();
  private readonly tokens = new Map<string, { at: number; response: Json }>();

  constructor(
    private readonly clients: MotoClients,
    private readonly account: string,
    private readonly faults: Faults,
    private readonly context: () => Omit<RuntimeContext, "stuckInPending">,
  ) {}

  /** The operations served here; anything else goes to moto. Tag calls are ours only for task ARNs. */
  handles(operation: string, body: Json): boolean {
    if (["RunTask", "DescribeTasks", "ListTasks", "StopTask"].includes(operation)) return true;
    if (["TagResource", "UntagResource", "ListTagsForResource"].includes(operation)) {
      return /:task\//.test(String(body.resourceArn ?? ""));
    }
    return false;
  }

  async call(operation: string, body: Json): Promise<Json> {
    switch (operation) {
      case "RunTask":
        return this.runTask(body as unknown as RunTaskCommandInput);
      case "DescribeTasks":
        return this.describeTasks(body);
      case "ListTasks":
        return this.listTasks(body);
      case "StopTask":
        return this.stopTask(body);
      case "TagResource":
        return this.tagResource(body);
      case "UntagResource":
        return this.untagResource(body);
      case "ListTagsForResource":
        return { tags: this.taskByArn(String(body.resourceArn)).tags };
      default:
        throw new EcsError("ServerException", `not served here: ${operation}`);
    }
  }

  /** Checked before a registration reaches moto: Fargate's sizes, privileged, capabilities. */
  checkRegistration(body: Json): void {
    const requires = (body.requiresCompatibilities as string[] | undefined) ?? [];
    if (requires.includes("FARGATE")) checkFargateTaskDefinition(body);
  }

  private clusterName(cluster: unknown): string {
    const value = typeof cluster === "string" && cluster !== "" ? cluster : "default";
    return value.slice(value.lastIndexOf("/") + 1);
  }

  private async clusterArn(cluster: unknown): Promise<string> {
    const name = this.clusterName(cluster);
    const out = await this.clients.ecs.send(new DescribeClustersCommand({ clusters: [name] }));
    const found = out.clusters?.find((c) => c.status !== "INACTIVE");
    if (!found?.clusterArn) throw new EcsError("ClusterNotFoundException", "Cluster not found.");
    return found.clusterArn;
  }

  private async taskDefinition(reference: string | undefined): Promise<TaskDefinition> {
    if (!reference) throw invalidParameter("TaskDefinition cannot be empty.");
    let ref = reference;
    if (!ref.includes(":") || (ref.startsWith("arn:") && !/:\d+$/.test(ref))) {
      // A family alone means its latest ACTIVE revision (moto would also pick an INACTIVE one).
      const family = ref.slice(ref.lastIndexOf("/") + 1);
      const list = await this.clients.ecs.send(
        new ListTaskDefinitionsCommand({ familyPrefix: family, status: "ACTIVE" }),
      );
      const latest = (list.taskDefinitionArns ?? []).filter((arn) => arn.includes(`/${family}:`)).pop();
      if (!latest) throw clientError("TaskDefinition not found.");
      ref = latest;
    }
    let definition: TaskDefinition | undefined;
    try {
      definition = (await this.clients.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: ref })))
        .taskDefinition;
    } catch {
      definition = undefined;
    }
    if (!definition) throw clientError("TaskDefinition not found.");
    if (definition.status === "INACTIVE") throw clientError("TaskDefinition is inactive");
    return definition;
  }

  private capacityOf(input: RunTaskCommandInput): "FARGATE" | "FARGATE_SPOT" {
    const strategy = input.capacityProviderStrategy ?? [];
    if (input.launchType && strategy.length > 0) {
      throw invalidParameter(
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
      );
    }
    if (strategy.length === 0) {
      if (input.launchType && input.launchType !== "FARGATE") {
        throw invalidParameter("No Container Instances were found in your cluster.");
      }
      return "FARGATE";
    }
    for (const item of strategy) {
      if (item.capacityProvider !== "FARGATE" && item.capacityProvider !== "FARGATE_SPOT") {
        throw invalidParameter(
          `The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.`,
        );
      }
    }
    // base first, then the largest weight: one task per call in practice, so the choice is deterministic.
    const chosen =
      strategy.find((s) => (s.base ?? 0) > 0) ??
      [...strategy].sort((a, b) => (b.weight ?? 0) - (a.weight ?? 0))[0]!;
    return chosen.capacityProvider as "FARGATE" | "FARGATE_SPOT";
  }

  private async runTask(input: RunTaskCommandInput): Promise<Json> {
    this.faults.takeThrottle();
    const token = input.clientToken;
    if (token !== undefined) {
      if (token.length > 64) throw invalidParameter("clientToken must be at most 64 characters.");
      const earlier = this.tokens.get(token);
      if (earlier && Date.now() - earlier.at < CLIENT_TOKEN_TTL_MS) return earlier.response;
    }
    const count = input.count ?? 1;
    if (count < 1 || count > 10) throw invalidParameter("Count must be between 1 and 10.");
    if (input.startedBy && input.startedBy.length > 128)
      throw invalidParameter("startedBy must be at most 128 characters.");
    if ((input.tags ?? []).length > 50) throw invalidParameter("Tags can have a maximum of 50 tags.");
    const clusterArn = await this.clusterArn(input.cluster);
    const capacity = this.capacityOf(input);
    const definition = await this.taskDefinition(input.taskDefinition);
    const compat = definition.requiresCompatibilities ?? [];
    if (!compat.includes("FARGATE"))
      throw invalidParameter("Task definition does not support launch_type FARGATE.");
    for (const container of definition.containerDefinitions ?? []) checkContainerForFargate(container);
    const vpc = input.networkConfiguration?.awsvpcConfiguration;
    if (!vpc) {
      throw invalidParameter(
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
      );
    }
    if ((vpc.subnets ?? []).length === 0) throw invalidParameter("subnets can not be empty.");
    const size = checkOverrides(definition, input.overrides);

    const response: Json = { tasks: [] as Task[], failures: [] as Json[] };
    if (capacity === "FARGATE_SPOT" && this.faults.takeSpotShortage()) {
      (response.failures as Json[]).push({ arn: clusterArn, reason: CAPACITY_UNAVAILABLE });
    } else {
      for (let i = 0; i < count; i++) {
        const id = randomBytes(16).toString("hex");
        const arn = `arn:aws:ecs:${this.clients.region}:${this.account}:task/${this.clusterName(input.cluster)}/${id}`;
        const runtime = new TaskRuntime(
          { ...this.context(), stuckInPending: this.faults.takeStuckInPending() },
          {
            arn,
            clusterArn,
            definition,
            cpu: size.cpu,
            memory: size.memory,
            ephemeralGiB: size.ephemeralGiB,
            capacityProvider: capacity,
            launchType: input.launchType === "FARGATE" ? "FARGATE" : undefined,
            overrides: input.overrides ?? { containerOverrides: [] },
            startedBy: input.startedBy,
            group: input.group ?? `family:${definition.family}`,
            tags: structuredClone(input.tags ?? []),
            subnetId: vpc.subnets![0]!,
            enableExecuteCommand: input.enableExecuteCommand ?? false,
          },
        );
        this.tasks.set(arn, runtime);
        (response.tasks as Task[]).push(runtime.describe(false));
      }
    }
    if (token !== undefined) this.tokens.set(token, { at: Date.now(), response });
    return response;
  }

  private resolveTask(cluster: unknown, task: string): TaskRuntime | undefined {
    const name = this.clusterName(cluster);
    for (const runtime of this.tasks.values()) {
      const arn = runtime.task.taskArn!;
      const inCluster = runtime.task.clusterArn?.endsWith(`/${name}`);
      if (inCluster && (arn === task || runtime.id === task)) return runtime;
    }
    return undefined;
  }

  private taskByArn(arn: string): TaskRuntime {
    const runtime = this.tasks.get(arn);
    if (!runtime) throw invalidParameter("The specified task is not found.");
    return runtime;
  }

  private async describeTasks(body: Json): Promise<Json> {
    const ids = (body.tasks as string[] | undefined) ?? [];
    if (ids.length === 0) throw invalidParameter("Tasks cannot be empty.");
    if (ids.length > 100) throw invalidParameter("Tasks cannot contain more than 100 elements.");
    await this.clusterArn(body.cluster);
    const includeTags = ((body.include as string[] | undefined) ?? []).includes("TAGS");
    const tasks: Task[] = [];
    const failures: Json[] = [];
    for (const id of ids) {
      const runtime = this.resolveTask(body.cluster, id);
      if (runtime) tasks.push(runtime.describe(includeTags));
      else failures.push({ arn: id, reason: "MISSING" });
    }
    return { tasks, failures };
  }

  private async listTasks(body: Json): Promise<Json> {
    const clusterArn = await this.clusterArn(body.cluster);
    const desired = (body.desiredStatus as string | undefined) ?? "RUNNING";
    const family = body.family as string | undefined;
    const startedBy = body.startedBy as string | undefined;
    const launchType = body.launchType as string | undefined;
    const arns = [...this.tasks.values()]
      .filter((r) => r.task.clusterArn === clusterArn)
      .filter((r) => r.task.desiredStatus === desired)
      .filter((r) => !family || r.task.taskDefinitionArn?.includes(`:task-definition/${family}:`))
      .filter((r) => !startedBy || r.task.startedBy === startedBy)
      .filter((r) => !launchType || (r.task.launchType ?? "FARGATE") === launchType)
      .map((r) => r.task.taskArn!);
    const max = Math.min(Number(body.maxResults ?? 100), 100);
    const start = body.nextToken ? Number(Buffer.from(String(body.nextToken), "base64url").toString()) : 0;
    const page = arns.slice(start, start + max);
    const next =
      start + max < arns.length ? Buffer.from(String(start + max)).toString("base64url") : undefined;
    return { taskArns: page, ...(next ? { nextToken: next } : {}) };
  }

  private async stopTask(body: Json): Promise<Json> {
    await this.clusterArn(body.cluster);
    const runtime = this.resolveTask(body.cluster, String(body.task ?? ""));
    if (!runtime) throw invalidParameter("The referenced task was not found.");
    if (runtime.task.desiredStatus !== "STOPPED")
      runtime.stop(String(body.reason ?? "") || "Task stopped by user");
    return { task: runtime.describe(false) };
  }

  private tagResource(body: Json): Json {
    const runtime = this.taskByArn(String(body.resourceArn));
    for (const tag of (body.tags as { key: string; value: string }[]) ?? []) {
      const existing = runtime.tags.find((t) => t.key === tag.key);
      if (existing) existing.value = tag.value;
      else runtime.tags.push({ key: tag.key, value: tag.value });
    }
    return {};
  }

  private untagResource(body: Json): Json {
    const runtime = this.taskByArn(String(body.resourceArn));
    const keys = new Set((body.tagKeys as string[]) ?? []);
    runtime.tags = runtime.tags.filter((t) => !keys.has(t.key ?? ""));
    return {};
  }
}
