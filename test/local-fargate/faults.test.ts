/**
 * Faults on demand, and the events a consumer of EventBridge sees. References: ECS API Reference, RunTask
 * (failures; ThrottlingException "Rate exceeded"); AWS re:Post "ECS Fargate RunTask capacity" ("Capacity is
 * unavailable at this time. Please try again later or in a different availability zone"); ECS Developer Guide,
 * "Fargate Spot" (two-minute warning as a task state change event, SIGTERM, stopCode SpotInterruption), "Amazon
 * ECS task state change events" (source aws.ecs, detail-type "ECS Task State Change"), "Stopped tasks error
 * codes" (OutOfMemoryError: Container killed due to memory usage).
 */
import { type ECSServiceException, StopTaskCommand } from "@aws-sdk/client-ecs";
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestbed, type Testbed } from "./testbed.js";

let bed: Testbed;
let sqs: SQSClient;
let queueUrl: string;
const bus = `lf-bus-${process.pid}`;

beforeAll(async () => {
  bed = await startTestbed({ eventBuses: ["default", bus] });
  const client = { endpoint: bed.fargate.endpoint, region: "us-east-1" };
  // A consumer of the task state change events: a rule on the extra bus with an SQS target.
  const events = new EventBridgeClient(client);
  sqs = new SQSClient(client);
  await events.send(new CreateEventBusCommand({ Name: bus }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: bed.unique("lf-events") }));
  queueUrl = queue.QueueUrl!;
  const arn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes!.QueueArn!;
  const rule = bed.unique("lf-rule");
  await events.send(
    new PutRuleCommand({
      Name: rule,
      EventBusName: bus,
      EventPattern: JSON.stringify({ source: ["aws.ecs"], "detail-type": ["ECS Task State Change"] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: rule, EventBusName: bus, Targets: [{ Id: "q", Arn: arn }] }),
  );
  events.destroy();
});
afterAll(async () => {
  sqs?.destroy();
  await bed?.close();
});

const sh = (script: string) => ({ entryPoint: ["/bin/sh", "-c"], command: [script] });
const spot = { capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }] };

/** Every event the SQS consumer has received so far. */
async function received(): Promise<
  { "detail-type": string; source: string; detail: Record<string, unknown> }[]
> {
  const out: { "detail-type": string; source: string; detail: Record<string, unknown> }[] = [];
  for (;;) {
    const page = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    if (!page.Messages?.length) return out;
    for (const m of page.Messages) out.push(JSON.parse(m.Body ?? "{}"));
  }
}

describe("faults on demand", () => {
  it("FARGATE_SPOT without capacity: RunTask returns the failure ECS gives, and on-demand still runs", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    bed.fargate.faults.spotCapacityUnavailable(1);
    const { RunTaskCommand } = await import("@aws-sdk/client-ecs");
    const out = await bed.ecs.send(
      new RunTaskCommand({
        cluster: bed.cluster,
        taskDefinition: td,
        ...spot,
        networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-1"] } },
      }),
    );
    expect(out.tasks).toEqual([]);
    expect(out.failures?.[0]?.reason).toBe(
      "Capacity is unavailable at this time. Please try again later or in a different availability zone",
    );
    const fallback = await bed.run(td);
    expect(fallback.capacityProviderName).toBe("FARGATE");
    await bed.until(fallback.taskArn!, "STOPPED");
  });

  it("throttles RunTask with ThrottlingException on demand", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    bed.fargate.faults.throttleRunTask(1);
    const error = (await bed.run(td).catch((e: unknown) => e)) as ECSServiceException;
    expect(error.name).toBe("ThrottlingException");
    expect(error.message).toBe("Rate exceeded");
    const task = await bed.run(td);
    await bed.until(task.taskArn!, "STOPPED");
  });

  it("keeps a task PENDING until it is stopped", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    bed.fargate.faults.neverLeavePending(1);
    const task = await bed.run(td);
    await bed.until(task.taskArn!, "PENDING");
    await new Promise((r) => setTimeout(r, 1000));
    expect((await bed.describe(task.taskArn!)).lastStatus).toBe("PENDING");
    await bed.ecs.send(
      new StopTaskCommand({ cluster: bed.cluster, task: task.taskArn, reason: "start timeout" }),
    );
    const stopped = await bed.until(task.taskArn!, "STOPPED");
    expect(stopped.stopCode).toBe("UserInitiated");
    expect(stopped.startedAt).toBeUndefined();
  });

  it("interrupts a Spot task: warning event, SIGTERM, then STOPPED with SpotInterruption", async () => {
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh('trap "echo got-sigterm; exit 143" TERM; echo ready; sleep 60 & wait'),
      },
    ]);
    const task = await bed.run(td, spot);
    await bed.logged(task.taskArn!, "main", "ready");
    bed.fargate.faults.interruptSpot(task.taskArn!);
    const warned = await bed.describe(task.taskArn!);
    expect(warned).toMatchObject({ desiredStatus: "STOPPED", stopCode: "SpotInterruption" });
    const stopped = await bed.until(task.taskArn!, "STOPPED");
    expect(stopped.stopCode).toBe("SpotInterruption");
    expect(stopped.stoppedReason).toBe("Your Spot Task was interrupted.");
    expect(stopped.containers?.[0]?.exitCode).toBe(143);
    expect(await bed.logLines(task.taskArn!, "main")).toContain("got-sigterm");

    // The consumer saw the warning (desiredStatus STOPPED while still RUNNING) before the STOPPED event.
    // Events reach the queue through EventBridge a moment after the task changed: read until the STOPPED one came.
    const mine: Awaited<ReturnType<typeof received>> = [];
    const isStopped = (e: (typeof mine)[number]) => e.detail.lastStatus === "STOPPED";
    for (let waited = 0; !mine.some(isStopped) && waited < 20_000; waited += 200) {
      mine.push(...(await received()).filter((e) => e.detail.taskArn === task.taskArn));
      if (!mine.some(isStopped)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(mine.every((e) => e.source === "aws.ecs" && e["detail-type"] === "ECS Task State Change")).toBe(
      true,
    );
    const warning = mine.findIndex(
      (e) => e.detail.lastStatus === "RUNNING" && e.detail.stopCode === "SpotInterruption",
    );
    const last = mine.findIndex(isStopped);
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(last).toBeGreaterThan(warning);
  });

  it("a container over its task's memory is killed: OutOfMemoryError", async () => {
    // 512 MiB task; the container allocates 600 MiB
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, ...sh("dd if=/dev/zero of=/dev/null bs=600M count=1") },
    ]);
    const stopped = await bed.until((await bed.run(td)).taskArn!, "STOPPED");
    expect(stopped.containers?.[0]).toMatchObject({
      exitCode: 137,
      reason: "OutOfMemoryError: Container killed due to memory usage",
    });
    expect(stopped.stopCode).toBe("EssentialContainerExited");
  });
});
