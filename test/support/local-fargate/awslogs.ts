/**
 * The awslogs log driver: a container's stdout and stderr, line by line, to CloudWatch Logs (moto) under
 * `awslogs-group`, stream `<awslogs-stream-prefix>/<container>/<task id>`, as Fargate names them.
 */
import type { ChildProcess } from "node:child_process";
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import type { LogConfiguration } from "@aws-sdk/client-ecs";
import type { MotoClients } from "./moto-clients.js";
import { podmanSpawn } from "./podman.js";

export interface AwsLogsTarget {
  group: string;
  stream: string;
}

/** Where a container's log goes, or undefined when it has no awslogs configuration. */
export function awslogsTarget(
  config: LogConfiguration | undefined,
  containerName: string,
  taskId: string,
): (AwsLogsTarget & { createGroup: boolean }) | undefined {
  if (config?.logDriver !== "awslogs") return undefined;
  const options = config.options ?? {};
  const group = options["awslogs-group"];
  if (!group) return undefined;
  const prefix = options["awslogs-stream-prefix"];
  // Fargate requires a prefix; without one the stream would be named by the container id alone.
  const stream = prefix ? `${prefix}/${containerName}/${taskId}` : taskId;
  return { group, stream, createGroup: options["awslogs-create-group"] === "true" };
}

export class LogGroupMissingError extends Error {}

/** Checks (or creates, with awslogs-create-group) the group and creates the stream, as the driver does at start. */
export async function prepareStream(
  clients: MotoClients,
  target: AwsLogsTarget & { createGroup: boolean },
): Promise<void> {
  const groups = await clients.logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: target.group }));
  const exists = (groups.logGroups ?? []).some((g) => g.logGroupName === target.group);
  if (!exists) {
    if (!target.createGroup) {
      throw new LogGroupMissingError(
        `ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1`,
      );
    }
    await clients.logs.send(new CreateLogGroupCommand({ logGroupName: target.group })).catch(() => undefined);
  }
  await clients.logs
    .send(new CreateLogStreamCommand({ logGroupName: target.group, logStreamName: target.stream }))
    .catch((err: Error) => {
      if (err.name !== "ResourceAlreadyExistsException") throw err;
    });
}

/** Follows `podman logs -f` of a container and ships its lines; `done` resolves once the last line is written. */
export function shipLogs(
  clients: MotoClients,
  target: AwsLogsTarget,
  podmanName: string,
): { done: Promise<void>; process: ChildProcess } {
  const child = podmanSpawn(["logs", "--follow", podmanName]);
  let pending: { timestamp: number; message: string }[] = [];
  let chain = Promise.resolve();
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    chain = chain.then(() =>
      clients.logs
        .send(
          new PutLogEventsCommand({
            logGroupName: target.group,
            logStreamName: target.stream,
            logEvents: batch,
          }),
        )
        .then(() => undefined)
        .catch(() => undefined),
    );
  };
  const timer = setInterval(flush, 200);
  const rests = { stdout: "", stderr: "" };
  const reader = (stream: keyof typeof rests) => (chunk: Buffer) => {
    const lines = (rests[stream] + chunk.toString("utf8")).split("\n");
    rests[stream] = lines.pop() ?? "";
    for (const line of lines) pending.push({ timestamp: Date.now(), message: line });
    if (pending.length >= 500) flush();
  };
  child.stdout?.on("data", reader("stdout"));
  child.stderr?.on("data", reader("stderr"));
  const done = new Promise<void>((resolve) => {
    child.once("close", () => {
      clearInterval(timer);
      for (const rest of Object.values(rests))
        if (rest) pending.push({ timestamp: Date.now(), message: rest });
      flush();
      chain.then(resolve, resolve);
    });
  });
  return { done, process: child };
}
