/**
 * The task lifecycle as ECS Fargate runs it, through real SDK v3 clients against the local Fargate.
 * References: ECS API Reference, RunTask, DescribeTasks, ListTasks, StopTask, TagResource; ECS Developer Guide,
 * "Amazon ECS task lifecycle" and "Amazon ECS task state change events".
 */
import {
  ListTagsForResourceCommand,
  ListTasksCommand,
  StopTaskCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestbed, type Testbed } from "./testbed.js";

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed({ delays: { provisioningMs: 150, eniAttachMs: 150, deprovisioningMs: 100 } });
});
afterAll(async () => bed?.close());

const sh = (script: string) => ({ entryPoint: ["/bin/sh", "-c"], command: [script] });

describe("task lifecycle", () => {
  it("RunTask answers at once with PROVISIONING; the task goes PENDING → RUNNING → STOPPED and each status is an event", async () => {
    // RunTask: "the task is in the PROVISIONING state" when returned; task lifecycle: PROVISIONING, PENDING,
    // ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED.
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, ...sh("echo hello; sleep 0.3") },
    ]);
    const task = await bed.run(td);
    expect(task.lastStatus).toBe("PROVISIONING");
    expect(task.desiredStatus).toBe("RUNNING");
    expect(task.launchType).toBe("FARGATE");
    expect(task.attachments?.[0]?.status).toBe("PRECREATED");

    const stopped = await bed.until(task.taskArn!, "STOPPED");
    expect(stopped.stopCode).toBe("EssentialContainerExited");
    expect(stopped.stoppedReason).toBe("Essential container in task exited");
    expect(stopped.containers?.[0]).toMatchObject({ name: "main", exitCode: 0, lastStatus: "STOPPED" });
    expect(stopped.startedAt).toBeInstanceOf(Date);
    expect(stopped.stoppedAt).toBeInstanceOf(Date);
    expect(stopped.pullStartedAt).toBeInstanceOf(Date);

    const statuses = bed.fargate
      .events()
      .filter((e) => e.detail.taskArn === task.taskArn)
      .map((e) => e.detail.lastStatus);
    const order = ["PENDING", "RUNNING", "STOPPING", "DEPROVISIONING", "STOPPED"];
    expect(order.map((s) => statuses.indexOf(s))).toEqual(
      [...order.map((s) => statuses.indexOf(s))].sort((a, b) => a - b),
    );
    for (const s of order) expect(statuses).toContain(s);
    expect(await bed.logLines(task.taskArn!, "main")).toEqual(["hello"]);
  });

  it("each phase takes the configured delay", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    const task = await bed.run(td);
    const record = await bed.fargate.waitFor(task.taskArn!, "STOPPED");
    const at = record.reachedAt;
    expect(at.PENDING! - at.PROVISIONING!).toBeGreaterThanOrEqual(300);
    expect(at.STOPPED! - at.DEPROVISIONING!).toBeGreaterThanOrEqual(100);
  });

  it("gives each task its own 127.0.0.N as the ENI's privateIPv4Address, which its containers share", async () => {
    // awsvpc: "each task receives its own elastic network interface"; containers of a task share it.
    // The same port on both tasks (not a well-known one: other tests' servers share this host's loopback).
    const port = 20000 + (process.pid % 20000);
    const td = await bed.register([
      {
        name: "server",
        image: bed.images.busybox,
        stopTimeout: 2,
        ...sh(
          `mkdir -p /tmp/www && echo pong > /tmp/www/index.html && exec busybox httpd -f -p "$TASK_IP:${port}" -h /tmp/www`,
        ),
      },
      { name: "peer", image: bed.images.busybox, essential: false, ...sh('echo "peer sees $TASK_IP"') },
    ]);
    const tasks = await Promise.all([bed.run(td), bed.run(td)]);
    const running = await Promise.all(tasks.map((t) => bed.until(t.taskArn!, "RUNNING")));
    const addresses = running.map(
      (t) => t.attachments?.[0]?.details?.find((d) => d.name === "privateIPv4Address")?.value ?? "",
    );
    expect(addresses[0]).toMatch(/^127\.0\.0\.\d+$/);
    expect(addresses[1]).toMatch(/^127\.0\.0\.\d+$/);
    expect(addresses[0]).not.toBe(addresses[1]);
    expect(running[0]!.attachments?.[0]?.status).toBe("ATTACHED");
    for (const address of addresses) {
      // the same port on two tasks: each reached at its own address
      expect(await readFrom(address, port)).toBe("pong\n");
    }
    for (const t of tasks) await bed.ecs.send(new StopTaskCommand({ cluster: bed.cluster, task: t.taskArn }));
    for (const t of tasks) await bed.until(t.taskArn!, "STOPPED");
    expect(await bed.logLines(tasks[0]!.taskArn!, "peer")).toEqual([`peer sees ${addresses[0]}`]);
  });

  it("lists tasks by family, startedBy and desiredStatus; StopTask stops with UserInitiated and the reason", async () => {
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh('trap "exit 143" TERM; echo ready; sleep 60 & wait'),
        stopTimeout: 2,
      },
    ]);
    const family = td.split("/").pop()!.split(":")[0]!;
    const startedBy = bed.unique("manager");
    const task = await bed.run(td, { startedBy, group: "jobs", tags: [{ key: "job", value: "1" }] });
    expect(task.startedBy).toBe(startedBy);
    expect(task.group).toBe("jobs");
    await bed.until(task.taskArn!, "RUNNING");

    const list = async (input: Record<string, string>) =>
      (await bed.ecs.send(new ListTasksCommand({ cluster: bed.cluster, ...input }))).taskArns ?? [];
    expect(await list({ family })).toEqual([task.taskArn]);
    expect(await list({ startedBy })).toEqual([task.taskArn]);
    expect(await list({ startedBy: "someone-else" })).toEqual([]);
    expect(await list({ desiredStatus: "STOPPED", family })).toEqual([]);
    await bed.logged(task.taskArn!, "main", "ready");

    const stop = await bed.ecs.send(
      new StopTaskCommand({ cluster: bed.cluster, task: task.taskArn, reason: "job cancelled" }),
    );
    expect(stop.task?.desiredStatus).toBe("STOPPED");
    const stopped = await bed.until(task.taskArn!, "STOPPED");
    expect(stopped.stopCode).toBe("UserInitiated");
    expect(stopped.stoppedReason).toBe("job cancelled");
    // SIGTERM first: the shell's trap ends it with 143 (no SIGKILL needed)
    expect(stopped.containers?.[0]?.exitCode).toBe(143);
    expect(await list({ family })).toEqual([]);
    expect(await list({ desiredStatus: "STOPPED", family })).toEqual([task.taskArn]);
  });

  it("keeps tags (RunTask, TagResource, UntagResource) and shows them with include TAGS", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    const task = await bed.run(td, { tags: [{ key: "a", value: "1" }] });
    await bed.ecs.send(
      new TagResourceCommand({ resourceArn: task.taskArn, tags: [{ key: "b", value: "2" }] }),
    );
    await bed.ecs.send(new UntagResourceCommand({ resourceArn: task.taskArn, tagKeys: ["a"] }));
    const tags = await bed.ecs.send(new ListTagsForResourceCommand({ resourceArn: task.taskArn }));
    expect(tags.tags).toEqual([{ key: "b", value: "2" }]);
    expect((await bed.describe(task.taskArn!)).tags).toEqual([{ key: "b", value: "2" }]);
    await bed.until(task.taskArn!, "STOPPED");
  });

  it("honours clientToken: the same token starts one task", async () => {
    // RunTask clientToken: "An identifier that you provide to ensure the idempotency of the request."
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    const clientToken = bed.unique("token");
    const first = await bed.run(td, { clientToken });
    const again = await bed.run(td, { clientToken });
    expect(again.taskArn).toBe(first.taskArn);
    const other = await bed.run(td, { clientToken: bed.unique("token") });
    expect(other.taskArn).not.toBe(first.taskArn);
    await Promise.all([first, other].map((t) => bed.until(t.taskArn!, "STOPPED")));
  });

  it("runs on the capacity provider asked for and says which", async () => {
    const td = await bed.register([{ name: "main", image: bed.images.busybox, ...sh("true") }]);
    const spot = await bed.run(td, {
      capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
    });
    expect(spot.capacityProviderName).toBe("FARGATE_SPOT");
    expect(spot.launchType).toBeUndefined();
    const onDemand = await bed.run(td);
    expect(onDemand.capacityProviderName).toBe("FARGATE");
    await Promise.all([spot, onDemand].map((t) => bed.until(t.taskArn!, "STOPPED")));
  });

  it("DescribeTasks reports an unknown task as a MISSING failure", async () => {
    // DescribeTasks: failures with reason MISSING for tasks not found.
    const { DescribeTasksCommand } = await import("@aws-sdk/client-ecs");
    const out = await bed.ecs.send(
      new DescribeTasksCommand({ cluster: bed.cluster, tasks: ["0123456789abcdef0123456789abcdef"] }),
    );
    expect(out.tasks).toEqual([]);
    expect(out.failures?.[0]?.reason).toBe("MISSING");
  });
});

/** GET / from a task's server, retrying while it is still binding its port. */
async function readFrom(host: string, port: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(`http://${host}:${port}/`)).text();
    } catch (err) {
      if (attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
