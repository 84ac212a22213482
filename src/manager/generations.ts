/**
 * The gitlab-runner processes of one manager. gitlab-runner asks for a job when it starts and then only every
 * `check_interval`, and nothing cuts that wait short (a config reload applies after it). So waking the runner means
 * a new generation: a fresh gitlab-runner that asks at once, while the old one gets SIGQUIT — it asks for nothing
 * more and finishes whatever it holds, even a job handed to it in that very moment. No job is lost.
 *
 * A generation started while older ones still run jobs may run only the jobs left of `concurrent`, so the manager
 * runs no more than `concurrent` jobs (plus, at most, one handed out in the moment of a SIGQUIT). Once every older
 * generation has exited, the current one gets the whole `concurrent` back.
 */
import type { ChildExit, RunnerChild } from "./runner-child.js";

interface Generation {
  child: RunnerChild;
  /** The jobs it may run. */
  concurrent: number;
}

export class RunnerGenerations {
  private current: Generation;
  private readonly retiring = new Set<Generation>();
  private ended = false;

  /** `start(n)` starts gitlab-runner allowed n jobs; `concurrent` is the runner configuration's. */
  constructor(
    private readonly start: (concurrent: number) => RunnerChild,
    private readonly concurrent: number,
  ) {
    this.current = { child: start(concurrent), concurrent };
  }

  /** Earlier generations still finishing. */
  get retiringCount(): number {
    return this.retiring.size;
  }

  /** Starts a new generation allowed `concurrent` jobs and retires the current one; false once it has exited. */
  renew(concurrent = this.concurrent): boolean {
    if (this.ended) return false;
    const old = this.current;
    this.current = { child: this.start(concurrent), concurrent };
    this.retiring.add(old);
    old.child.signal("SIGQUIT");
    void old.child.exited.then(() => {
      this.retiring.delete(old);
      this.widenWhenAlone();
    });
    return true;
  }

  /** Signals the current generation (retiring ones already got SIGQUIT, which is all a drain sends). */
  signal(sig: NodeJS.Signals): void {
    this.current.child.signal(sig);
  }

  /** The current generation's exit, once it and every retiring generation have exited. */
  async exited(): Promise<ChildExit> {
    let exit: ChildExit;
    for (;;) {
      const { child } = this.current;
      exit = await child.exited;
      if (child === this.current.child) break;
    }
    this.ended = true;
    await Promise.all([...this.retiring].map((generation) => generation.child.exited));
    return exit;
  }

  /** The older generations' jobs are done: the current one may run the whole `concurrent` again. */
  private widenWhenAlone(): void {
    const current = this.current;
    if (this.ended || this.retiring.size > 0 || current.concurrent >= this.concurrent) return;
    current.concurrent = this.concurrent;
    // allow() reports its own failure; the generation then keeps its share until the next renewal.
    void current.child.allow(this.concurrent);
  }
}
