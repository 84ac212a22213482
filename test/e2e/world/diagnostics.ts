/**
 * What a world looked like when something did not happen: its managers, their records and logs, the scale-up
 * decisions and the runners' job requests. Appended to a job's timeout so a failure explains itself.
 */
import { CloudWatchLogsClient, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { DescribeTaskDefinitionCommand, ECSClient } from "@aws-sdk/client-ecs";
import type { SimJob } from "../../support/gitlab-sim.js";
import { awslogsTarget } from "../../support/local-fargate/awslogs.js";
import type { TaskRecord } from "../../support/local-fargate/index.js";
import type { World } from "./world.js";

/** Every line one manager wrote to its container log (CloudWatch Logs in moto, as awslogs sends it). */
async function logLinesOf(
  ecs: ECSClient,
  logs: CloudWatchLogsClient,
  manager: TaskRecord,
): Promise<string[]> {
  const { taskDefinition } = await ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: manager.task.taskDefinitionArn }),
  );
  const container = taskDefinition?.containerDefinitions?.[0];
  const taskId = manager.task.taskArn!.split("/").pop()!;
  const target = awslogsTarget(container?.logConfiguration, container?.name ?? "", taskId);
  if (!target) throw new Error(`the manager task ${taskId} has no awslogs configuration`);
  const lines: string[] = [];
  let token: string | undefined;
  for (;;) {
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: target.group,
        logStreamName: target.stream,
        startFromHead: true,
        nextToken: token,
      }),
    );
    lines.push(...(out.events ?? []).map((event) => event.message ?? ""));
    if (!out.nextForwardToken || out.nextForwardToken === token || !out.events?.length) break;
    token = out.nextForwardToken;
  }
  return lines;
}

/** Every line the managers wrote to their container logs, manager by manager in start order. */
export async function managerLogLines(world: World, managers = world.managers()): Promise<string[]> {
  const ecs = new ECSClient({});
  const logs = new CloudWatchLogsClient({});
  try {
    const lines: string[] = [];
    for (const manager of managers) lines.push(...(await logLinesOf(ecs, logs, manager)));
    return lines;
  } finally {
    ecs.destroy();
    logs.destroy();
  }
}

const shortId = (arn: string | undefined) => arn?.split("/").pop()?.slice(0, 12) ?? "?";
const clock = (ms: number | undefined) => (ms ? new Date(ms).toISOString().slice(11, 23) : "-");

/** The world's state as text: never throws (a broken part is named in place of its section). */
export async function describeWorld(world: World, job?: SimJob): Promise<string> {
  const section = async (title: string, body: () => Promise<string[]> | string[]) => {
    try {
      return [`-- ${title}`, ...(await body())].join("\n");
    } catch (err) {
      return `-- ${title}: unavailable (${(err as Error).message})`;
    }
  };
  const managers = world.managers();
  const parts = await Promise.all([
    section("the job", () =>
      job ? [`${job.id} ${job.status}, handed to a runner at ${clock(job.assignedAt)}`] : ["none named"],
    ),
    section("manager tasks", () =>
      managers.map(
        (m) =>
          `${shortId(m.task.taskArn)} ${m.task.capacityProviderName} ${m.task.lastStatus} started ${clock(m.reachedAt.RUNNING)} ${m.task.stoppedReason ?? ""}`,
      ),
    ),
    section("manager records", async () =>
      (await world.managerRecords()).map(
        (r) =>
          `${shortId(r.taskArn)} ${r.state} heartbeat ${clock(r.heartbeatAt)} jobs ${[...(r.runningJobIds ?? [])].join(",")} ${r.stopReason ?? ""}`,
      ),
    ),
    section("jobs/request (last 10)", () =>
      world.sim.requests
        .filter((r) => r.path.endsWith("/jobs/request"))
        .slice(-10)
        .map((r) => `${clock(r.receivedAt)} → ${clock(r.at)} ${r.status}`),
    ),
    section("scale-up log (last 15)", () => world.lambdas["scale-up"].logs().slice(-15)),
    section("manager log (last 40 of the newest)", async () =>
      managers.length ? (await managerLogLines(world, managers.slice(-1))).slice(-40) : ["no manager"],
    ),
  ]);
  return parts.join("\n");
}
