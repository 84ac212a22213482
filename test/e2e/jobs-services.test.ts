/**
 * End to end, `services:`: a job whose task runs the redis and postgres stand-ins beside its image, reached by
 * alias once the driver has seen their ports accept connections; and a second such job at the same time, whose
 * services listen on the same ports of its own task's address.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { SimJob } from "../support/gitlab-sim.js";
import type { TaskRecord } from "../support/local-fargate/index.js";
import { expectJobTasksStopped, useJobsWorld, WORLD_START_TIMEOUT_MS } from "./jobs-support.js";
import { jobTasksOf, plainTrace } from "./world/jobs.js";

/** The task's ENI address, as DescribeTasks gives it. */
const privateAddressOf = (t: TaskRecord | undefined) =>
  t?.task.attachments?.flatMap((a) => a.details ?? []).find((d) => d.name === "privateIPv4Address")?.value;

let job: SimJob;
let twin: SimJob;

/** A job reaching redis and a postgres whose database is `database`, by alias. */
const servicesJob = (name: string, database: string) =>
  jobsWorld.send({
    name,
    // The postgres stand-in as the job's image too: it has psql and bash (for /dev/tcp).
    image: jobsWorld.images.postgres.name,
    services: [
      { name: jobsWorld.images.redis.name, alias: "cache", ports: [6379] },
      {
        name: jobsWorld.images.postgres.name,
        alias: "db",
        ports: [5432],
        variables: { POSTGRES_PASSWORD: "e2e-secret", POSTGRES_DB: database },
      },
    ],
    script: [
      `psql "postgresql://postgres:e2e-secret@db:5432/${database}" -tAc "select 'pg:' || current_database()"`,
      `exec 3<>/dev/tcp/cache/6379 && printf 'PING\\r\\n' >&3 && head -c 7 <&3 | tr -d '\\r' && exec 3>&-`,
    ],
  });

const jobsWorld = useJobsWorld();

beforeAll(async () => {
  // Queued together: one manager runs them side by side, each task's services on the same ports.
  job = servicesJob("services", "app");
  twin = servicesJob("services-twin", "twin");
  await Promise.all([jobsWorld.world.waitForJob(job, 600_000), jobsWorld.world.waitForJob(twin, 600_000)]);
}, WORLD_START_TIMEOUT_MS);

describe("services:", () => {
  it("reaches redis and postgres by alias, after waiting for their ports", async () => {
    const trace = plainTrace(jobsWorld.world, job);
    expect(job.final?.state, trace).toBe("success");
    expect(trace).toMatch(/Waiting for services on the task's port\(s\) 6379, 5432/);
    expect(trace).not.toMatch(/did not accept connections in time/);
    expect(trace).toMatch(/^pg:app$/m);
    expect(trace).toMatch(/^\+PONG$/m);
  });

  it("runs a second services job at the same time, each reaching its own task's services", async () => {
    const trace = plainTrace(jobsWorld.world, twin);
    expect(twin.final?.state, trace).toBe("success");
    expect(trace).not.toMatch(/did not accept connections in time/);
    expect(trace).toMatch(/^pg:twin$/m);
    expect(trace).toMatch(/^\+PONG$/m);
    await expectJobTasksStopped(jobsWorld.world, job);
    await expectJobTasksStopped(jobsWorld.world, twin);
    const [mine] = jobTasksOf(jobsWorld.world, job);
    const [theirs] = jobTasksOf(jobsWorld.world, twin);
    const running = (t: TaskRecord | undefined) => [t?.reachedAt.RUNNING ?? 0, t?.reachedAt.STOPPED ?? 0];
    const [mineFrom, mineTo] = running(mine);
    const [theirsFrom, theirsTo] = running(theirs);
    // Both tasks were running at the same time, each on an address of its own.
    expect(mineFrom).toBeLessThan(theirsTo!);
    expect(theirsFrom).toBeLessThan(mineTo!);
    expect(privateAddressOf(mine)).toMatch(/^127\.0\.0\.\d+$/);
    expect(privateAddressOf(mine)).not.toBe(privateAddressOf(theirs));
  });

  it("ran one task with the helper, the build container and both services, all stopped", async () => {
    const [task, ...others] = jobTasksOf(jobsWorld.world, job);
    expect(others).toEqual([]);
    const names = (task?.task.containers ?? []).map((c) => c.image);
    expect(names).toEqual(
      expect.arrayContaining([jobsWorld.images.redis.name, jobsWorld.images.postgres.name]),
    );
    expect(task?.task.containers?.length).toBe(4);
    await expectJobTasksStopped(jobsWorld.world, job);
  });
});
