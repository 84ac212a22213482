/**
 * Job records against moto (the shared one: no ECS tasks here): precedence instead of arrival order,
 * duplicates, the seen-pending set, and the queue-to-start metrics.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import type { JobEventInput } from "../../src/events/job-event.js";
import { METRICS } from "../../src/observability/metric-names.js";
import { type JobRecordDeps, recordJobEvent } from "../../src/state/job-records.js";
import { JOB_SK, jobPk, PENDING_PK, pendingSk } from "../../src/state/table.js";
import { createFixture, type Fixture } from "../control-plane/harness.js";

let f: Fixture;
let deps: JobRecordDeps;
beforeAll(async () => {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint)
    throw new Error("AWS_ENDPOINT_URL is not set: the integration global setup did not start moto");
  f = await createFixture(endpoint, { runners: [{ name: "default", tags: ["fargate"] }] });
  deps = {
    db: f.clients.db,
    tableName: f.resources.stateTableName,
    logger: f.deps.logger,
    metrics: f.deps.metrics,
  };
});

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const event = (
  jobId: number,
  status: string,
  receivedSecond: number,
  extra: Partial<JobEventInput> = {},
): JobEventInput => ({
  status,
  projectId: 11,
  jobId,
  runner: null,
  receivedAt: at(receivedSecond),
  ...extra,
});
const job = async (jobId: number) =>
  (
    await f.clients.db.send(
      new GetCommand({ TableName: f.resources.stateTableName, Key: { pk: jobPk(11, jobId), sk: JOB_SK } }),
    )
  ).Item;
const marker = async (jobId: number) =>
  (
    await f.clients.db.send(
      new GetCommand({
        TableName: f.resources.stateTableName,
        Key: { pk: PENDING_PK, sk: pendingSk(11, jobId) },
      }),
    )
  ).Item;
const metric = (name: string) => f.metrics.filter((m) => m.name === name).map((m) => m.value);

describe("job records", () => {
  it("follows created → pending → running → success and emits queue-to-start metrics", async () => {
    expect(await recordJobEvent(deps, event(1, "created", 0), T0)).toBe("recorded");
    expect(await recordJobEvent(deps, event(1, "pending", 2), T0)).toBe("recorded");
    expect(await marker(1)).toMatchObject({ firstSeenAt: T0 + 2000 });
    expect(await recordJobEvent(deps, event(1, "running", 14, { queuedDurationSeconds: 11.5 }), T0)).toBe(
      "recorded",
    );
    expect(await marker(1)).toBeUndefined();
    expect(metric(METRICS.jobQueuedSeconds)).toContain(11.5);
    expect(metric(METRICS.jobPendingToRunningSeconds)).toContain(12);
    expect(await recordJobEvent(deps, event(1, "success", 60), T0)).toBe("recorded");
    expect(await job(1)).toMatchObject({
      status: "success",
      statusRank: 3,
      pendingSeenAt: T0 + 2000,
      runningSeenAt: T0 + 14_000,
    });
    expect((await job(1))?.ttl).toBeGreaterThan(T0 / 1000);
    expect(metric(METRICS.jobSucceeded)).toHaveLength(1);
  });

  it("orders by status precedence, not arrival: a late pending never rewinds a running job", async () => {
    expect(await recordJobEvent(deps, event(2, "running", 5), T0)).toBe("recorded");
    expect(await recordJobEvent(deps, event(2, "pending", 6), T0)).toBe("stale-or-duplicate");
    expect(await recordJobEvent(deps, event(2, "created", 7), T0)).toBe("stale-or-duplicate");
    expect((await job(2))?.status).toBe("running");
    expect(await marker(2)).toBeUndefined();
    expect(await recordJobEvent(deps, event(2, "failed", 8), T0)).toBe("recorded");
    expect(await recordJobEvent(deps, event(2, "success", 9), T0)).toBe("stale-or-duplicate"); // finished is final
    expect((await job(2))?.status).toBe("failed");
  });

  it("a repeated delivery changes nothing and keeps the first sighting", async () => {
    await recordJobEvent(deps, event(3, "pending", 1), T0);
    expect(await recordJobEvent(deps, event(3, "pending", 30), T0)).toBe("stale-or-duplicate");
    expect(await marker(3)).toMatchObject({ firstSeenAt: T0 + 1000 });
    expect((await job(3))?.pendingSeenAt).toBe(T0 + 1000);
  });

  it("ignores statuses that carry no queue information (Pipeline Hook builds: manual, skipped…)", async () => {
    expect(await recordJobEvent(deps, event(4, "manual", 1), T0)).toBe("ignored-status");
    expect(await job(4)).toBeUndefined();
  });
});
