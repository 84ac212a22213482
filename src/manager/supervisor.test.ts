import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { FakeChild } from "../../test/manager/fake-runner-child.js";
import type { RecordState } from "../state/manager-record.js";
import { exitCodeOf, type ManagerRecord, superviseRunner } from "./supervisor.js";

/** The manager record as a scripted object: `state` is what the table says; calls are recorded. */
class FakeRecord implements ManagerRecord {
  state: RecordState = "RUNNING";
  failing = false;
  readonly calls: string[] = [];
  private call(name: string): void {
    this.calls.push(name);
    if (this.failing) throw new Error("ProvisionedThroughputExceededException");
  }
  async markRunning(): Promise<RecordState> {
    this.call("markRunning");
    if (this.state === "STARTING") this.state = "RUNNING";
    return this.state;
  }
  async readState(): Promise<RecordState> {
    this.call("readState");
    return this.state;
  }
  async heartbeat(): Promise<RecordState> {
    this.call("heartbeat");
    return this.state;
  }
  async markSelfDraining(reason: string): Promise<boolean> {
    this.call(`markSelfDraining:${reason}`);
    this.state = "DRAINING";
    return true;
  }
  async markStopped(reason: string): Promise<boolean> {
    this.call(`markStopped:${reason}`);
    this.state = "STOPPED";
    return true;
  }
}

const quietLogger = { info() {}, warn() {}, error() {} };
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

function start(record: FakeRecord, child = new FakeChild()) {
  const signals = new EventEmitter();
  let started = 0;
  const result = superviseRunner({
    startRunner: () => {
      started++;
      return child;
    },
    concurrent: 2,
    record,
    signals: signals as unknown as Parameters<typeof superviseRunner>[0]["signals"],
    drainPollMs: 10,
    heartbeatMs: 15,
    logger: quietLogger,
  });
  return { child, signals, result, started: () => started };
}

describe("supervisor", () => {
  it("turns SIGTERM into one SIGQUIT and marks the record draining once", async () => {
    const record = new FakeRecord();
    const { child, signals, result } = start(record);
    await tick();
    signals.emit("SIGTERM", "SIGTERM");
    signals.emit("SIGTERM", "SIGTERM");
    signals.emit("SIGINT", "SIGINT");
    await tick();
    expect(child.received).toEqual(["SIGQUIT"]);
    expect(record.calls.filter((c) => c.startsWith("markSelfDraining"))).toEqual([
      "markSelfDraining:received SIGTERM",
    ]);
    child.exit({ code: 0, signal: null });
    expect(await result).toBe(0);
    expect(record.calls.at(-1)).toBe("markStopped:gitlab-runner exited with code 0");
    expect(signals.listenerCount("SIGTERM")).toBe(0);
  });

  it("drains when the table says DRAINING (poll) or the heartbeat sees it", async () => {
    for (const via of ["poll", "heartbeat"] as const) {
      const record = new FakeRecord();
      if (via === "heartbeat") record.readState = async () => "RUNNING";
      const { child, result } = start(record);
      await tick();
      expect(child.received).toEqual([]);
      record.state = "DRAINING";
      await tick(60);
      expect(child.received, via).toEqual(["SIGQUIT"]);
      child.exit({ code: 0, signal: null });
      await result;
    }
  });

  it("keeps the runner going while the table fails, and still tries to record the stop", async () => {
    const record = new FakeRecord();
    const { child, result } = start(record);
    await tick();
    record.failing = true;
    await tick(60);
    expect(child.received).toEqual([]);
    child.exit({ code: 0, signal: null });
    expect(await result).toBe(0);
    expect(record.calls.filter((c) => c.startsWith("markStopped"))).toHaveLength(3);
  }, 10_000);

  it("does not start gitlab-runner when the drain came first", async () => {
    const record = new FakeRecord();
    record.state = "DRAINING";
    const { result, started } = start(record);
    expect(await result).toBe(0);
    expect(started()).toBe(0);
    expect(record.calls).toEqual(["markRunning", "markStopped:drained before start"]);
  });

  it("keeps asking to mark RUNNING until scale-up has written the record", async () => {
    const record = new FakeRecord();
    record.state = "MISSING";
    const { child, result, started } = start(record);
    await tick();
    expect(started()).toBe(1);
    expect(record.calls.filter((c) => c === "heartbeat")).toEqual([]);
    record.state = "STARTING";
    await tick(60);
    expect(record.state).toBe("RUNNING");
    expect(record.calls).toContain("heartbeat");
    child.exit({ code: 0, signal: null });
    await result;
  });

  it("tries again when scale-up wrote the record just between markRunning's condition and its read", async () => {
    const record = new FakeRecord();
    record.state = "MISSING";
    let raced = false;
    const markRunning = record.markRunning.bind(record);
    record.markRunning = async () => {
      if (record.state === "STARTING" && !raced) {
        raced = true;
        record.calls.push("markRunning");
        return "STARTING"; // the update's condition failed, the read that followed saw the new record
      }
      return markRunning();
    };
    const { child, result } = start(record);
    await tick();
    record.state = "STARTING";
    await tick(80);
    expect(raced).toBe(true);
    expect(record.state).toBe("RUNNING");
    child.exit({ code: 0, signal: null });
    await result;
  });

  it("exits with the runner's code, or 128 + signal number", async () => {
    const record = new FakeRecord();
    const { child, result } = start(record);
    child.exit({ code: null, signal: "SIGKILL" });
    expect(await result).toBe(137);
    expect(record.calls.at(-1)).toBe("markStopped:gitlab-runner killed by SIGKILL");
    expect(exitCodeOf({ code: 3, signal: null })).toBe(3);
  });
});
