import { describe, expect, it } from "vitest";
import { RunnerGenerations } from "./generations.js";
import type { ChildExit, RunnerChild } from "./runner-child.js";
import { type PendingJobSource, pendingJobWatcher } from "./wake.js";

class FakeChild implements RunnerChild {
  readonly received: NodeJS.Signals[] = [];
  private finish!: (exit: ChildExit) => void;
  readonly exited = new Promise<ChildExit>((resolve) => {
    this.finish = resolve;
  });
  signal(sig: NodeJS.Signals): void {
    this.received.push(sig);
  }
  exit(code = 0): void {
    this.finish({ code, signal: null });
  }
}

const quietLogger = { info() {}, warn() {}, error() {} };

function fakeSource(pending: string[][], running = 0) {
  const forgotten: string[][] = [];
  const source: PendingJobSource & { running: number } = {
    pollMs: 10,
    running,
    read: async () => pending.shift() ?? [],
    forget: async (jobs) => void forgotten.push(jobs),
    runningJobs: async () => source.running,
  };
  return { source, forgotten };
}

describe("runner generations", () => {
  it("a renewal starts a new gitlab-runner and quits the old one gracefully; the manager ends when both have", async () => {
    const children: FakeChild[] = [];
    const generations = new RunnerGenerations(() => {
      const child = new FakeChild();
      children.push(child);
      return child;
    });
    expect(generations.renew()).toBe(true);
    const [first, second] = children as [FakeChild, FakeChild];
    expect(first.received).toEqual(["SIGQUIT"]);
    expect(generations.retiringCount).toBe(1);

    let ended: ChildExit | undefined;
    void generations.exited().then((exit) => {
      ended = exit;
    });
    generations.signal("SIGQUIT");
    expect(second.received).toEqual(["SIGQUIT"]);
    second.exit(0);
    await new Promise((r) => setTimeout(r, 10));
    // The old generation still finishes a job it was handed: the manager waits for it.
    expect(ended).toBeUndefined();
    expect(generations.renew()).toBe(false);
    first.exit(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(ended).toEqual({ code: 0, signal: null });
    expect(children).toHaveLength(2);
  });
});

describe("pending job watcher", () => {
  const target = (mayWake = true) => {
    const woken: number[] = [];
    return { woken, mayWake: () => mayWake, wake: () => woken.push(1) > 0 };
  };

  it("forgets what was pending when gitlab-runner started, then wakes it once per batch of new jobs", async () => {
    const { source, forgotten } = fakeSource([["1#1"], [], ["1#2", "1#3"], []]);
    const t = target();
    const poll = pendingJobWatcher(source, t, quietLogger);
    expect(await poll()).toBe("primed");
    expect(await poll()).toBe("nothing pending");
    expect(await poll()).toBe("woken");
    expect(await poll()).toBe("nothing pending");
    expect(t.woken).toHaveLength(1);
    expect(forgotten).toEqual([["1#1"], ["1#2", "1#3"]]);
  });

  it("leaves a busy runner, a draining one, or one whose last generation still finishes alone", async () => {
    const busy = fakeSource([[], ["1#4"]], 2);
    const busyTarget = target();
    const pollBusy = pendingJobWatcher(busy.source, busyTarget, quietLogger);
    await pollBusy();
    expect(await pollBusy()).toBe("busy");
    expect(busyTarget.woken).toEqual([]);
    expect(busy.forgotten).toEqual([["1#4"]]);

    const held = fakeSource([[], ["1#5"]]);
    const heldTarget = target(false);
    const pollHeld = pendingJobWatcher(held.source, heldTarget, quietLogger);
    await pollHeld();
    expect(await pollHeld()).toBe("not now");
    expect(heldTarget.woken).toEqual([]);
  });
});
