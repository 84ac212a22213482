import { describe, expect, it } from "vitest";
import { FakeChild } from "../../test/manager/fake-runner-child.js";
import { RunnerGenerations } from "./generations.js";
import type { ChildExit } from "./runner-child.js";
import { type PendingJobSource, pendingJobWatcher, TAKING_WINDOW_MS } from "./wake.js";

const quietLogger = { info() {}, warn() {}, error() {} };

const NOW = 1_000_000;

function fakeSource(pending: string[][], running = 0, lastJobStartedAt?: number) {
  const forgotten: string[][] = [];
  const source: PendingJobSource = {
    pollMs: 10,
    read: async () => pending.shift() ?? [],
    forget: async (jobs) => void forgotten.push(jobs),
    jobLoad: async () => ({ running, lastJobStartedAt }),
  };
  return { source, forgotten };
}

describe("runner generations", () => {
  const startFakes = () => {
    const children: FakeChild[] = [];
    const started: number[] = [];
    const generations = new RunnerGenerations((concurrent) => {
      const child = new FakeChild();
      children.push(child);
      started.push(concurrent);
      return child;
    }, 4);
    return { children, started, generations };
  };

  it("a renewal starts a new gitlab-runner and quits the old one gracefully; the manager ends when both have", async () => {
    const { children, generations } = startFakes();
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
    await tick();
    // The old generation still finishes a job it was handed: the manager waits for it.
    expect(ended).toBeUndefined();
    expect(generations.renew()).toBe(false);
    first.exit(0);
    await tick();
    expect(ended).toEqual({ code: 0, signal: null });
    expect(children).toHaveLength(2);
  });

  it("a generation started beside busy ones runs only the jobs left, and all of concurrent once they have exited", async () => {
    const { children, started, generations } = startFakes();
    generations.renew(3);
    generations.renew(1);
    expect(started).toEqual([4, 3, 1]);
    const [first, second, third] = children as [FakeChild, FakeChild, FakeChild];
    first.exit(0);
    await tick();
    expect(third.allowed).toEqual([]);
    second.exit(0);
    await tick();
    expect(third.allowed).toEqual([4]);
    expect(first.allowed).toEqual([]);
    expect(second.allowed).toEqual([]);
  });
});

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("pending job watcher", () => {
  const target = (mayWake = true) => {
    const woken: number[] = [];
    return {
      woken,
      concurrent: 4,
      mayWake: () => mayWake,
      wake: (concurrent: number) => woken.push(concurrent) > 0,
    };
  };

  it("forgets what was pending when gitlab-runner started, then wakes it once per batch of new jobs", async () => {
    const { source, forgotten } = fakeSource([["1#1"], [], ["1#2", "1#3"], []]);
    const t = target();
    const poll = pendingJobWatcher(source, t, quietLogger, () => NOW);
    expect(await poll()).toBe("primed");
    expect(await poll()).toBe("nothing pending");
    expect(await poll()).toBe("woken");
    expect(await poll()).toBe("nothing pending");
    expect(t.woken).toEqual([4]);
    expect(forgotten).toEqual([["1#1"], ["1#2", "1#3"]]);
  });

  it("wakes a runner that runs jobs into a generation allowed the rest of concurrent", async () => {
    const { source } = fakeSource([[], ["1#4"]], 3, NOW - TAKING_WINDOW_MS - 1);
    const t = target();
    const poll = pendingJobWatcher(source, t, quietLogger, () => NOW);
    await poll();
    expect(await poll()).toBe("woken");
    expect(t.woken).toEqual([1]);
  });

  it("leaves a full runner, one taking jobs right now, a draining one, or one with too many generations finishing", async () => {
    const full = fakeSource([[], ["1#5"]], 4, NOW - 60_000);
    const fullTarget = target();
    const pollFull = pendingJobWatcher(full.source, fullTarget, quietLogger, () => NOW);
    await pollFull();
    expect(await pollFull()).toBe("full");
    expect(full.forgotten).toEqual([["1#5"]]);

    const taking = fakeSource([[], ["1#6"]], 1, NOW - TAKING_WINDOW_MS + 100);
    const takingTarget = target();
    const pollTaking = pendingJobWatcher(taking.source, takingTarget, quietLogger, () => NOW);
    await pollTaking();
    expect(await pollTaking()).toBe("taking");

    const held = fakeSource([[], ["1#7"]]);
    const heldTarget = target(false);
    const pollHeld = pendingJobWatcher(held.source, heldTarget, quietLogger, () => NOW);
    await pollHeld();
    expect(await pollHeld()).toBe("not now");
    for (const t of [fullTarget, takingTarget, heldTarget]) expect(t.woken).toEqual([]);
  });
});
