import { describe, expect, it } from "vitest";
import type { EmfProperties, EmfWriter } from "../../observability/emf.js";
import type { JobIdentity } from "../backend.js";
import { emitJobTaskRunning, firstScriptByteMetric } from "./phase-metrics.js";

function recorder() {
  const emitted: { name: string; value: number; properties?: EmfProperties }[] = [];
  const metrics: EmfWriter = {
    seconds: (name, value, properties) => emitted.push({ name, value, properties }),
  };
  return { emitted, metrics };
}

const identity: JobIdentity = { runnerName: "r", projectId: "1", jobId: "77", managerTaskId: "t" };

describe("job task running", () => {
  it("is job start → agent answered, in seconds, tagged with the job id", () => {
    const { emitted, metrics } = recorder();
    emitJobTaskRunning({ metrics }, "77", 100_000, 131_500);
    expect(emitted).toEqual([{ name: "JobTaskRunningSeconds", value: 31.5, properties: { jobId: "77" } }]);
  });

  it("emits nothing for a start time far after the answer (a wrong clock) or without a writer", () => {
    const { emitted, metrics } = recorder();
    emitJobTaskRunning({ metrics }, "77", 200_000, 100_000);
    emitJobTaskRunning({}, "77", 100_000, 131_500);
    expect(emitted).toEqual([]);
  });
});

describe("first script byte", () => {
  it("is emitted once per job, at the first output, counted from the job's start", () => {
    const { emitted, metrics } = recorder();
    const job: { identity: JobIdentity; startedAtMs?: number; firstScriptByteSeen?: boolean } = {
      identity,
      startedAtMs: 10_000,
    };
    let clock = 14_250;
    const onFirstByte = firstScriptByteMetric({ metrics }, job, {}, () => clock);
    expect(onFirstByte).toBeDefined();
    onFirstByte?.();
    clock = 20_000;
    onFirstByte?.();
    expect(emitted).toEqual([
      { name: "JobFirstScriptByteSeconds", value: 4.25, properties: { jobId: "77" } },
    ]);
    // A later build stage of the same job gets no callback at all.
    expect(firstScriptByteMetric({ metrics }, job, {}, () => clock)).toBeUndefined();
  });

  it("uses CI_JOB_STARTED_AT for a job reattached after a daemon restart (no prepare start kept)", () => {
    const { emitted, metrics } = recorder();
    const start = Date.parse("2026-11-27T21:00:00Z");
    const onFirstByte = firstScriptByteMetric(
      { metrics },
      { identity },
      { CUSTOM_ENV_CI_JOB_STARTED_AT: "2026-11-27T21:00:00Z" },
      () => start + 9_000,
    );
    onFirstByte?.();
    expect(emitted.map((m) => m.value)).toEqual([9]);
  });

  it("without any start time, marks the job done but emits nothing", () => {
    const { emitted, metrics } = recorder();
    const job: { identity: JobIdentity; firstScriptByteSeen?: boolean } = { identity };
    firstScriptByteMetric({ metrics }, job, {})?.();
    expect(job.firstScriptByteSeen).toBe(true);
    expect(emitted).toEqual([]);
  });
});
