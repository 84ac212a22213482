/** A gitlab-runner generation stand-in: records the signals and job allowances it gets; the test decides its exit. */
import type { ChildExit, RunnerChild } from "../../src/manager/runner-child.js";

export class FakeChild implements RunnerChild {
  readonly received: NodeJS.Signals[] = [];
  /** Every `allow(n)` it got, in order. */
  readonly allowed: number[] = [];
  private finish!: (exit: ChildExit) => void;
  readonly exited = new Promise<ChildExit>((resolve) => {
    this.finish = resolve;
  });
  signal(sig: NodeJS.Signals): void {
    this.received.push(sig);
  }
  async allow(concurrent: number): Promise<void> {
    this.allowed.push(concurrent);
  }
  exit(exit: ChildExit | number = 0): void {
    this.finish(typeof exit === "number" ? { code: exit, signal: null } : exit);
  }
}
