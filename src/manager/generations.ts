/**
 * The gitlab-runner processes of one manager. gitlab-runner asks for a job when it starts and then only every
 * `check_interval`, and nothing cuts that wait short (a config reload applies after it). So waking the runner means
 * a new generation: a fresh gitlab-runner that asks at once, while the old one gets SIGQUIT — it asks for nothing
 * more and finishes whatever it holds, even a job handed to it in that very moment. No job is lost.
 */
import type { ChildExit, RunnerChild } from "./runner-child.js";

export class RunnerGenerations {
  private current: RunnerChild;
  private readonly retiring = new Set<RunnerChild>();
  private ended = false;

  constructor(private readonly start: () => RunnerChild) {
    this.current = start();
  }

  /** Earlier generations still finishing. */
  get retiringCount(): number {
    return this.retiring.size;
  }

  /** Starts a new generation and retires the current one; false once the current one has exited. */
  renew(): boolean {
    if (this.ended) return false;
    const old = this.current;
    this.current = this.start();
    this.retiring.add(old);
    old.signal("SIGQUIT");
    void old.exited.then(() => this.retiring.delete(old));
    return true;
  }

  /** Signals the current generation (retiring ones already got SIGQUIT, which is all a drain sends). */
  signal(sig: NodeJS.Signals): void {
    this.current.signal(sig);
  }

  /** The current generation's exit, once it and every retiring generation have exited. */
  async exited(): Promise<ChildExit> {
    let exit: ChildExit;
    for (;;) {
      const child = this.current;
      exit = await child.exited;
      if (child === this.current) break;
    }
    this.ended = true;
    await Promise.all([...this.retiring].map((child) => child.exited));
    return exit;
  }
}
