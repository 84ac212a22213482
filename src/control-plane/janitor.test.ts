/**
 * Janitor decisions moto cannot show (it returns no task creation times): the maxJobSeconds backstop per runner,
 * tasks that are not ours, failures that must not stop the sweep, and the retention boundary.
 * Fake ECS client; the moto-backed test is test/driver/fargate-janitor.test.ts.
 */
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { awsError, FakeEcs } from "../../test/support/fake-ecs.js";
import { parseConfig } from "../config/load.js";
import { isPastRetention, runJanitor } from "./janitor.js";

const config = parseConfig({
  gitlab: { url: "https://gitlab.example.com" },
  runners: [
    { name: "short", tags: ["a"], jobs: { maxJobSeconds: 600 } },
    { name: "long", tags: ["b"], jobs: { maxJobSeconds: 7200 } },
  ],
});
const now = new Date("2026-11-27T12:00:00Z");
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);
const arn = (id: string) => `arn:aws:ecs:eu-west-1:123456789012:task/jobs/${id}`;

function jobTask(id: string, runner: string, manager: string, createdAt: Date): Task {
  return {
    taskArn: arn(id),
    lastStatus: "RUNNING",
    desiredStatus: "RUNNING",
    createdAt,
    tags: [
      { key: "sgr:runner", value: runner },
      { key: "sgr:manager-task", value: manager },
      { key: "sgr:project-id", value: "1" },
      { key: "sgr:job-id", value: id },
    ],
  };
}

/** One janitor pass over a cluster whose tasks are `tasks` (every StopTask succeeds). */
async function janitorOver(tasks: Task[]) {
  const fake = new FakeEcs()
    .on("ListTasks", () => ({ taskArns: tasks.map((t) => t.taskArn) }))
    .on("DescribeTasks", (input) => ({
      tasks: tasks.filter((t) => (input.tasks as string[]).includes(t.taskArn!)),
    }))
    .on("StopTask", () => ({}));
  const report = await runJanitor(
    { ecs: fake.client },
    { config, cluster: "jobs", skipTaskDefinitions: true },
    now,
  );
  return { fake, report };
}

describe("janitor: job tasks (fake ECS)", () => {
  it("stops tasks older than their runner's maxJobSeconds and leaves younger ones and foreign tasks", async () => {
    const mgr = "0".repeat(32);
    const tasks: Task[] = [
      { taskArn: arn(mgr), lastStatus: "RUNNING", desiredStatus: "RUNNING", createdAt: minutesAgo(600) },
      jobTask("short-old", "short", mgr, minutesAgo(11)),
      jobTask("short-young", "short", mgr, minutesAgo(9)),
      jobTask("long-mid", "long", mgr, minutesAgo(60)),
      jobTask("unknown-runner-old", "removed", mgr, minutesAgo(121)),
      {
        taskArn: arn("not-ours"),
        lastStatus: "RUNNING",
        desiredStatus: "RUNNING",
        createdAt: minutesAgo(9999),
      },
    ];
    const { fake, report } = await janitorOver(tasks);
    expect(report.stoppedTasks).toEqual([
      { taskArn: arn("short-old"), reason: expect.stringMatching(/maxJobSeconds \(600 s\)/) },
      // A runner no longer configured gets the largest maxJobSeconds of the configuration.
      { taskArn: arn("unknown-runner-old"), reason: expect.stringMatching(/maxJobSeconds \(7200 s\)/) },
    ]);
    expect(fake.callsOf("StopTask").map((c) => c.task)).toEqual([
      arn("short-old"),
      arn("unknown-runner-old"),
    ]);
  });

  it("stops a speculative task nobody adopted once its deadline and a grace period are past", async () => {
    const speculative = (id: string, createdAt: Date): Task => ({
      taskArn: arn(id),
      lastStatus: "RUNNING",
      desiredStatus: "RUNNING",
      createdAt,
      tags: [
        { key: "sgr:runner", value: "short" },
        { key: "sgr:job-id", value: id },
        { key: "sgr:speculative", value: "120" },
      ],
    });
    // 120 s deadline + 300 s grace = 7 minutes.
    const tasks = [speculative("stale", minutesAgo(8)), speculative("waiting", minutesAgo(6))];
    const { fake, report } = await janitorOver(tasks);
    expect(report.stoppedTasks).toEqual([
      {
        taskArn: arn("stale"),
        reason:
          "serverless-gitlab-runner janitor: speculative job task not adopted within its deadline (120 s)",
      },
    ]);
    expect(fake.callsOf("StopTask").map((c) => c.task)).toEqual([arn("stale")]);
  });

  it("asks for a manager missing from the listing before calling it gone, and keeps going after a failed stop", async () => {
    const elsewhere = "1".repeat(32);
    const dead = "2".repeat(32);
    const tasks: Task[] = [
      jobTask("a", "short", elsewhere, minutesAgo(1)),
      jobTask("b", "short", dead, minutesAgo(1)),
      jobTask("c", "short", dead, minutesAgo(1)),
      // A manager id that is no task id (a hostname) is never looked up nor called gone.
      jobTask("d", "short", "ip-10-0-1-2.ec2.internal", minutesAgo(1)),
    ];
    const managers: Task[] = [
      { taskArn: arn(elsewhere), lastStatus: "RUNNING", desiredStatus: "RUNNING" },
      { taskArn: arn(dead), lastStatus: "STOPPED", desiredStatus: "STOPPED" },
    ];
    const fake = new FakeEcs()
      .on("ListTasks", () => ({ taskArns: tasks.map((t) => t.taskArn) }))
      .on("DescribeTasks", (input) => ({
        tasks: [...tasks, ...managers].filter((t) =>
          (input.tasks as string[]).some((id) => t.taskArn!.endsWith(`/${id}`) || t.taskArn === id),
        ),
      }))
      .on(
        "StopTask",
        () => {
          throw awsError("ServerException", "internal error");
        },
        () => ({}),
      );
    const report = await runJanitor(
      { ecs: fake.client },
      { config, cluster: "jobs", skipTaskDefinitions: true },
      now,
    );
    expect(fake.callsOf("DescribeTasks")[1]!.tasks).toEqual([elsewhere, dead]);
    expect(report.stoppedTasks.map((s) => s.taskArn)).toEqual([arn("c")]);
    expect(report.errors).toEqual([expect.stringMatching(/StopTask .*\/b: internal error/)]);
  });
});

describe("janitor: retention", () => {
  it("counts retention from the end of the last-used day", () => {
    expect(isPastRetention("2026-11-12", 14, new Date("2026-11-26T23:59:59Z"))).toBe(false);
    expect(isPastRetention("2026-11-12", 14, new Date("2026-11-27T00:00:00Z"))).toBe(true);
    expect(isPastRetention("2026-11-27", 1, new Date("2026-11-28T12:00:00Z"))).toBe(false);
    expect(isPastRetention("not-a-date", 1, now)).toBe(false);
  });

  it("never retires a definition without our tags or a last-used day", async () => {
    const defs: Record<string, { key: string; value: string }[]> = {
      "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-aaaa:1": [
        { key: "sgr:last-used", value: "2020-01-01" },
      ],
      "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-bbbb:1": [{ key: "sgr:managed", value: "true" }],
      "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-cccc:1": [
        { key: "sgr:managed", value: "true" },
        { key: "sgr:last-used", value: "2020-01-01" },
      ],
    };
    const fake = new FakeEcs()
      .on("ListTasks", () => ({ taskArns: [] }))
      .on("ListTaskDefinitionFamilies", () => ({
        families: ["sgr-job-aaaa", "sgr-job-bbbb", "sgr-job-cccc", "other-family"],
      }))
      .on("ListTaskDefinitions", (input) =>
        input.status === "ACTIVE"
          ? { taskDefinitionArns: Object.keys(defs).filter((a) => a.includes(`/${input.familyPrefix}:`)) }
          : { taskDefinitionArns: [] },
      )
      .on("ListTagsForResource", (input) => ({ tags: defs[input.resourceArn as string] }))
      .on("DeregisterTaskDefinition", () => ({}))
      .on("DeleteTaskDefinitions", () => ({ taskDefinitions: [] }));
    const report = await runJanitor({ ecs: fake.client }, { config, cluster: "jobs" }, now);
    expect(report.deregistered).toEqual(["arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-cccc:1"]);
    expect(fake.callsOf("ListTaskDefinitions").map((c) => c.familyPrefix)).not.toContain("other-family");
  });

  it("stops when ECS keeps throttling its writes, keeping the cursor at the last family done", async () => {
    const families = ["sgr-job-a1", "sgr-job-a2", "sgr-job-a3"];
    const stale = [
      { key: "sgr:managed", value: "true" },
      { key: "sgr:last-used", value: "2020-01-01" },
    ];
    let deregistrations = 0;
    const fake = new FakeEcs()
      .on("ListTasks", () => ({ taskArns: [] }))
      .on("ListTaskDefinitionFamilies", () => ({ families }))
      .on("ListTaskDefinitions", (input) => ({
        taskDefinitionArns:
          input.status === "ACTIVE"
            ? [`arn:aws:ecs:eu-west-1:1:task-definition/${input.familyPrefix}:1`]
            : [],
      }))
      .on("ListTagsForResource", () => ({ tags: stale }))
      .on("DeregisterTaskDefinition", () => {
        deregistrations += 1;
        if (deregistrations > 1) throw awsError("ThrottlingException", "Rate exceeded");
        return {};
      })
      .on("DeleteTaskDefinitions", () => ({ taskDefinitions: [] }));
    const saved: (string | undefined)[] = [];
    const report = await runJanitor(
      { ecs: fake.client },
      {
        config,
        cluster: "jobs",
        sleep: async () => {},
        cursor: { load: async () => undefined, save: async (family) => void saved.push(family) },
      },
      now,
    );
    expect(report.deregistered).toEqual(["arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-a1:1"]);
    // The throttled write was retried with backoff (5 attempts), then the run stopped: a3 was never visited.
    expect(fake.callsOf("DeregisterTaskDefinition")).toHaveLength(6);
    expect(fake.callsOf("ListTagsForResource")).toHaveLength(2);
    expect(report.errors).toEqual([expect.stringMatching(/throttled; resuming after sgr-job-a1 next run/)]);
    expect(saved).toEqual(["sgr-job-a1"]);
    expect(report.resumeAfter).toBe("sgr-job-a1");
  });

  it("visits at most maxFamiliesPerRun families, after the cursor, in name order", async () => {
    const fake = new FakeEcs()
      .on("ListTasks", () => ({ taskArns: [] }))
      .on("ListTaskDefinitionFamilies", (input) =>
        input.nextToken
          ? { families: ["sgr-job-05", "sgr-job-06"] }
          : { families: ["sgr-job-01", "sgr-job-02", "sgr-job-03", "sgr-job-04"], nextToken: "page-2" },
      )
      .on("ListTaskDefinitions", () => ({ taskDefinitionArns: [] }));
    const saved: (string | undefined)[] = [];
    const cursor = {
      load: async () => "sgr-job-02",
      save: async (family?: string) => void saved.push(family),
    };
    const first = await runJanitor(
      { ecs: fake.client },
      { config, cluster: "jobs", cursor, maxFamiliesPerRun: 3 },
      now,
    );
    expect(first).toMatchObject({ familiesVisited: 3, resumeAfter: "sgr-job-05" });
    const visited = fake.callsOf("ListTaskDefinitions").map((c) => c.familyPrefix);
    expect([...new Set(visited)]).toEqual(["sgr-job-03", "sgr-job-04", "sgr-job-05"]);
    const last = await runJanitor(
      { ecs: fake.client },
      {
        config,
        cluster: "jobs",
        cursor: { ...cursor, load: async () => "sgr-job-05" },
        maxFamiliesPerRun: 3,
      },
      now,
    );
    expect(last).toMatchObject({ familiesVisited: 1, resumeAfter: null });
    expect(saved).toEqual(["sgr-job-05", undefined]);
  });
});
