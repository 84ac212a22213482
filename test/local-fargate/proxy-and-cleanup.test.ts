/**
 * The local Fargate as a whole: every other AWS call passes through to moto unchanged, the address pool never
 * hands out an address in use, and stop() leaves no container, pod, volume or process behind, whatever state its
 * tasks are in.
 */

import { DescribeTaskDefinitionCommand, ECSClient, RunTaskCommand } from "@aws-sdk/client-ecs";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, it } from "vitest";
import { assertNothingLeftRunning, localFargateLeftovers } from "../support/local-fargate/index.js";
import { LoopbackAddressPool } from "../support/local-fargate/ip-pool.js";
import { startTestbed, type Testbed } from "./testbed.js";

const sh = (script: string) => ({ entryPoint: ["/bin/sh", "-c"], command: [script] });
const opened: Testbed[] = [];
afterAll(async () => {
  for (const bed of opened) await bed.fargate.stop().catch(() => undefined);
});

describe("the local Fargate proxy", () => {
  it("passes every other call to moto (S3 objects, ECS task definitions); AWS_ENDPOINT_URL_ECS alone reaches it", async () => {
    const bed = await startTestbed();
    opened.push(bed);
    const s3 = new S3Client({ endpoint: bed.fargate.endpoint, region: "us-east-1", forcePathStyle: true });
    const bucket = bed.unique("lf-bucket");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = "x".repeat(200_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "k" }));
    expect(await got.Body?.transformToString()).toBe(body);
    s3.destroy();

    // An SDK client given only AWS_ENDPOINT_URL_ECS reaches the local Fargate for ECS.
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, entryPoint: ["/bin/sh", "-c"], command: ["true"] },
    ]);
    const task = await bed.run(td);
    const saved = process.env.AWS_ENDPOINT_URL_ECS;
    process.env.AWS_ENDPOINT_URL_ECS = bed.fargate.endpoint;
    const { ListTasksCommand } = await import("@aws-sdk/client-ecs");
    const fromEnv = new ECSClient({ region: "us-east-1" });
    try {
      const listed = await fromEnv.send(
        new ListTasksCommand({ cluster: bed.cluster, desiredStatus: "RUNNING" }),
      );
      const stopped = await fromEnv.send(
        new ListTasksCommand({ cluster: bed.cluster, desiredStatus: "STOPPED" }),
      );
      expect([...(listed.taskArns ?? []), ...(stopped.taskArns ?? [])]).toContain(task.taskArn);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_ECS;
      else process.env.AWS_ENDPOINT_URL_ECS = saved;
      fromEnv.destroy();
    }
    await bed.until(task.taskArn!, "STOPPED");
    const described = await bed.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: td }));
    expect(described.taskDefinition?.taskDefinitionArn).toBe(td);
    await bed.close();
  });
});

describe("the task address pool", () => {
  it("hands out 127.0.0.N only, never one in use, and reuses a released one only after the others", () => {
    const pool = new LoopbackAddressPool(2, 4, 2);
    const taken = [pool.take(), pool.take(), pool.take()];
    expect(taken).toEqual(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    expect(() => pool.take()).toThrow(/in use/);
    pool.release("127.0.0.3");
    expect(pool.take()).toBe("127.0.0.3");
    expect(() => new LoopbackAddressPool(1, 10)).toThrow();
  });
});

describe("stop()", () => {
  it("stops running, starting and stuck tasks and leaves nothing behind", async () => {
    const bed = await startTestbed();
    opened.push(bed);
    const stubborn = await bed.register(
      [
        {
          name: "main",
          image: bed.images.busybox,
          stopTimeout: 2,
          ...sh('trap "" TERM; echo up; while true; do sleep 1; done'),
        },
        { name: "side", image: bed.images.busybox, essential: false, stopTimeout: 2, ...sh("sleep 60") },
      ],
      { volumes: [{ name: "v" }] },
    );
    const running = await bed.run(stubborn);
    bed.fargate.faults.neverLeavePending(1);
    const stuck = await bed.run(stubborn);
    const starting = await bed.run(stubborn);
    await bed.logged(running.taskArn!, "main", "up");
    expect((await localFargateLeftovers(bed.fargate.instance)).containers.length).toBeGreaterThan(0);

    await bed.fargate.stop();
    for (const record of bed.fargate.tasks()) expect(record.task.lastStatus).toBe("STOPPED");
    expect(
      bed.fargate
        .tasks()
        .map((t) => t.task.taskArn)
        .sort(),
    ).toEqual([running, stuck, starting].map((t) => t.taskArn).sort());
    expect(await localFargateLeftovers(bed.fargate.instance)).toEqual({
      containers: [],
      pods: [],
      volumes: [],
      processes: 0,
    });
    await assertNothingLeftRunning(bed.fargate.instance);
    // and the proxy is closed
    const ecs = new ECSClient({ endpoint: bed.fargate.endpoint, region: "us-east-1", maxAttempts: 1 });
    await expect(ecs.send(new RunTaskCommand({ taskDefinition: stubborn }))).rejects.toThrow();
    ecs.destroy();
  });
});
