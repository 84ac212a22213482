/**
 * The awslogs log driver: a container's stdout and stderr, line by line, to CloudWatch Logs (moto) under
 * `awslogs-group`, stream `<awslogs-stream-prefix>/<container>/<task id>`, as Fargate names them.
 */
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import type { LogConfiguration } from "@aws-sdk/client-ecs";
import { LogTail } from "./log-tail.js";
import type { MotoClients } from "./moto-clients.js";

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

/** Ships a container's log file to its stream, a batch every 200 ms; finish() once the container has exited. */
export class LogShipper {
  private pending: { timestamp: number; message: string }[] = [];
  private chain = Promise.resolve();
  private readonly tail: LogTail;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly clients: MotoClients,
    private readonly target: AwsLogsTarget,
    logFile: string,
  ) {
    this.tail = new LogTail(logFile, (lines) => {
      this.pending.push(...lines);
      if (this.pending.length >= 500) this.flush();
    });
    this.timer = setInterval(() => this.flush(), 200);
  }

  /** Ships the last lines; resolves once they are written. */
  async finish(): Promise<void> {
    await this.tail.finish();
    clearInterval(this.timer);
    this.flush();
    await this.chain;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const { group, stream } = this.target;
    this.chain = this.chain.then(() =>
      this.clients.logs
        .send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: batch }))
        .then(() => undefined)
        .catch(() => undefined),
    );
  }
}
