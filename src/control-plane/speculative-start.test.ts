import { describe, expect, it } from "vitest";
import { conditionalFailure, fakeDeps } from "../../test/support/state-fakes.js";
import type { JobEventInput } from "../events/job-event.js";
import type { ChannelSecretStore } from "../fargate/channel-secrets.js";
import type { JobTaskRecipe } from "../fargate/speculative-task.js";
import { METRICS } from "../observability/metric-names.js";
import type { PendingJobOutcome } from "./scale-up.js";
import { startSpeculativeJobTask } from "./speculative-start.js";

const NOW = 1_000_000_000_000;
const TASK = "arn:aws:ecs:eu-west-1:1:task/cluster/spec";
const RECIPE: JobTaskRecipe = {
  taskDefinitionArn: "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-abc:3",
  cpu: 512,
  memoryMiB: 1024,
  ephemeralStorageGiB: 30,
  capacity: "FARGATE_SPOT",
  architecture: "x86_64",
  image: "node:24",
  services: [],
};
const job = { status: "pending", projectId: 7, jobId: 42, jobName: "test" } as JobEventInput;
const warm: PendingJobOutcome = {
  action: "already-running",
  runner: "default",
  taskArn: "mgr",
  tagsFrom: "api",
};

function secretsRecorder() {
  const written: { key: string; secret: string }[] = [];
  const store: ChannelSecretStore = {
    put: async (key, secret) => {
      written.push({ key, secret });
      return `arn:aws:s3:::secrets/${key}`;
    },
    read: async () => "",
    remove: async () => undefined,
  };
  return { written, store };
}

function setup(
  options: {
    recipe?: JobTaskRecipe;
    claimed?: boolean;
    runTask?: (input: Record<string, unknown>) => unknown;
    enabled?: boolean;
  } = {},
) {
  const f = fakeDeps({
    now: NOW,
    config: {
      runners: [
        { name: "default", tags: ["x"], jobs: { speculativeStart: { enabled: options.enabled ?? true } } },
      ],
    },
    db: {
      GetCommand: () => ({
        Item: options.recipe ? { recipe: options.recipe, ttl: NOW / 1000 + 60 } : undefined,
      }),
      PutCommand: options.claimed ? conditionalFailure : () => ({}),
      DeleteCommand: () => ({}),
    },
    ecs: { RunTaskCommand: options.runTask ?? (() => ({ tasks: [{ taskArn: TASK }], failures: [] })) },
  });
  const secrets = secretsRecorder();
  return { ...f, secrets, deps: { ...f.deps, channelSecrets: secrets.store } };
}

describe("startSpeculativeJobTask", () => {
  it("starts the job's task from its recipe, the secret only in an S3 file the override names", async () => {
    const s = setup({ recipe: RECIPE });
    expect(await startSpeculativeJobTask(s.deps, job, warm)).toEqual({
      action: "started",
      taskArn: TASK,
      capacity: "FARGATE_SPOT",
    });
    const run = s.ecs.named("RunTaskCommand")[0]!;
    expect(run).toMatchObject({
      taskDefinition: RECIPE.taskDefinitionArn,
      startedBy: "sgr-spec/42/default",
      capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
      overrides: { cpu: "512", memory: "1024", ephemeralStorage: { sizeInGiB: 30 } },
    });
    const [written] = s.secrets.written;
    expect(written!.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(written!.key).toMatch(/^speculative\/default\/42\/[0-9a-f]{32}\.env$/);
    // Whoever reads DescribeTasks sees the file's ARN, never the secret.
    expect(JSON.stringify(run)).not.toContain(written!.secret);
    expect(JSON.stringify(run)).toContain(`arn:aws:s3:::secrets/${written!.key}`);
    expect(s.db.named("PutCommand")[0]).toMatchObject({
      Item: { pk: "SPECULATIVE#default", sk: "42" },
      ConditionExpression: "attribute_not_exists(pk)",
    });
    expect(s.metrics.map((m) => m.name)).toEqual([METRICS.speculativeJobTaskStarted]);
  });

  it("falls back to on-demand when Spot has no capacity, as every RunTask of ours does", async () => {
    let calls = 0;
    const s = setup({
      recipe: RECIPE,
      runTask: () =>
        calls++ === 0
          ? { tasks: [], failures: [{ reason: "Capacity is unavailable at this time" }] }
          : { tasks: [{ taskArn: TASK }], failures: [] },
    });
    expect(await startSpeculativeJobTask(s.deps, job, warm)).toMatchObject({ capacity: "FARGATE" });
    expect(s.ecs.named("RunTaskCommand").map((r) => r.clientToken)).toHaveLength(2);
  });

  it("starts nothing without a recipe, when another event already started it, or when turned off", async () => {
    const none = setup();
    expect(await startSpeculativeJobTask(none.deps, job, warm)).toMatchObject({ action: "skipped" });
    const again = setup({ recipe: RECIPE, claimed: true });
    expect(await startSpeculativeJobTask(again.deps, job, warm)).toEqual({
      action: "skipped",
      reason: "already started for this job",
    });
    const off = setup({ recipe: RECIPE, enabled: false });
    expect(await startSpeculativeJobTask(off.deps, job, warm)).toEqual({
      action: "skipped",
      reason: "turned off",
    });
    for (const s of [none, again, off]) expect(s.ecs.sent).toEqual([]);
    const ignored = setup({ recipe: RECIPE });
    const outcome: PendingJobOutcome = { action: "ignored", reason: "status running" };
    expect((await startSpeculativeJobTask(ignored.deps, job, outcome)).action).toBe("skipped");
  });

  it("gives the claim back and reports, never throws, when the start fails", async () => {
    const s = setup({
      recipe: RECIPE,
      runTask: () => ({ tasks: [], failures: [{ reason: "MISSING", detail: "no definition" }] }),
    });
    const outcome = await startSpeculativeJobTask(s.deps, job, warm);
    expect(outcome).toMatchObject({ action: "failed" });
    expect(s.db.named("DeleteCommand")[0]).toMatchObject({ Key: { pk: "SPECULATIVE#default", sk: "42" } });
    expect(s.metrics.map((m) => m.name)).toEqual([METRICS.speculativeJobTaskStartFailed]);
  });
});
