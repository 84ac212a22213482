/**
 * Runs the job's stage scripts inside the task and keeps each step's output as a file on the shared volume, so the
 * channel can replay it from any offset after a reconnect. Helper steps run as child processes of the agent; build
 * steps are handed to the build container's shell loop (build-loop.ts) through the control FIFO.
 */
import { spawn } from "node:child_process";
import { constants, type FSWatcher, watch } from "node:fs";
import { chmod, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import { CONTROL_FIFO, STEPS_DIR } from "./build-loop.js";
import { descendants, isAlive, signalAll } from "./processes.js";
import type { StepTarget } from "./protocol.js";

/** Time a step gets between SIGTERM and SIGKILL when cancelled (the driver must stop it within 2 s). */
export const STOP_GRACE_MS = 1000;
const POLL_MS = 50;

export class Step {
  exitCode: number | undefined;
  /** Resolves once the step's files exist and it was launched (attach waits for it). */
  ready: Promise<void> = Promise.resolve();
  private waiters: Array<() => void> = [];
  stopRequested = false;

  constructor(
    readonly id: string,
    readonly target: StepTarget,
    readonly outPath: string,
  ) {}

  /**
   * Resolves at the next sign of progress (output written, exit): true; or after a poll interval: false (then the
   * caller polls what a missed file event would have told).
   */
  changed(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), POLL_MS);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  finish(code: number): void {
    if (this.exitCode === undefined) this.exitCode = code;
    this.notify();
  }
}

export interface StepRunnerOptions {
  /** The volume shared with the build container. */
  sharedDir: string;
  /** Shell for helper steps. */
  helperShell: string;
  /** Directories made writable for every user at start (SGR_WRITABLE_DIRS: the builds volume). */
  writableDirs?: readonly string[];
}

/** How long the first build step waits for the build container's loop to read the control FIFO. */
const BUILD_LOOP_WAIT_MS = 10_000;

const validStepId = /^[A-Za-z0-9_.-]{1,100}$/;

export class StepRunner {
  private readonly steps = new Map<string, Step>();
  private readonly helperChildren = new Map<string, number>();
  private readonly stepsDir: string;
  private watcher: FSWatcher | undefined;
  private busyStreams = 0;
  private closed = false;

  constructor(private readonly options: StepRunnerOptions) {
    this.stepsDir = join(options.sharedDir, STEPS_DIR);
  }

  /** Creates the shared layout the build loop waits for. */
  async init(): Promise<void> {
    await mkdir(this.stepsDir, { recursive: true });
    // The build container may run as another user (docker.user): it must be able to write outputs.
    await chmod(this.stepsDir, 0o1777);
    // Volumes ECS creates are root's, mode 0755: open those the job image writes (the builds volume) to its user,
    // whoever that is.
    for (const dir of this.options.writableDirs ?? []) await chmod(dir, 0o777);
    await this.ensureFifo();
    this.watch();
  }

  private watch(): void {
    if (this.watcher || this.closed) return;
    this.watcher = watch(this.stepsDir, (_event, file) => {
      if (!file) return;
      const name = file.toString();
      const id = name.replace(/\.(out|rc)$/, "");
      const step = this.steps.get(id);
      if (!step) return;
      if (name.endsWith(".rc")) void this.readBuildExit(step);
      else step.notify();
    });
    this.watcher.on("error", () => {
      // polling keeps working
    });
  }

  /**
   * A stream is reading output as fast as it comes (`true`) or has caught up and waits for more (`false`). While
   * any stream is busy the directory is not watched: every write of the script (4 KiB at a time with busybox)
   * would wake the agent for an event nobody waits for, which cost as much CPU as moving the bytes.
   */
  setStreaming(busy: boolean): void {
    this.busyStreams += busy ? 1 : -1;
    if (this.busyStreams > 0) {
      this.watcher?.close();
      this.watcher = undefined;
    } else this.watch();
  }

  private async ensureFifo(): Promise<void> {
    const fifo = join(this.options.sharedDir, CONTROL_FIFO);
    try {
      const handle = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const isFifo = (await handle.stat()).isFIFO();
      await handle.close();
      if (isFifo) return;
      await rm(fifo, { force: true });
    } catch {
      // does not exist yet
    }
    // Node has no mkfifo; the helper image (and this machine) has coreutils.
    await new Promise<void>((resolve, reject) => {
      const child = spawn("mkfifo", ["-m", "0666", fifo], { stdio: "ignore" });
      child.on("error", reject);
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`mkfifo exited with ${code}`))));
    });
  }

  get(stepId: string): Step | undefined {
    return this.steps.get(stepId);
  }

  /** Steps the driver has not released yet (running, or finished with a result it has not collected). */
  get unreleased(): number {
    return this.steps.size;
  }

  /** Starts a step; starting one that exists is a no-op (the driver resends `start` after a reconnect). */
  async start(stepId: string, target: StepTarget, script: string): Promise<Step> {
    const existing = this.steps.get(stepId);
    if (existing) {
      await existing.ready;
      return existing;
    }
    if (!validStepId.test(stepId)) throw new Error(`invalid step id ${JSON.stringify(stepId)}`);
    const scriptPath = join(this.stepsDir, `${stepId}.sh`);
    const outPath = join(this.stepsDir, `${stepId}.out`);
    const step = new Step(stepId, target, outPath);
    this.steps.set(stepId, step);
    step.ready = (async () => {
      await writeFile(scriptPath, script, { mode: 0o644 });
      await writeFile(outPath, "", { mode: 0o666 });
      await chmod(outPath, 0o666);
      if (target === "helper") this.startHelper(step, scriptPath);
      else await this.startBuild(step);
    })();
    try {
      await step.ready;
    } catch (error) {
      this.steps.delete(stepId);
      throw error;
    }
    return step;
  }

  private startHelper(step: Step, scriptPath: string): void {
    void (async () => {
      const out = await open(step.outPath, "a");
      // umask 0000, as the Docker executor runs its helper: the checkout, caches and artifacts the helper writes
      // stay writable by a job image whose user is not root.
      const child = spawn(
        "/bin/sh",
        ["-c", 'umask 0000 && exec "$0" "$1"', this.options.helperShell, scriptPath],
        {
          stdio: ["ignore", out.fd, out.fd],
          detached: true, // own process group: a stop reaches everything the script started
        },
      );
      // Listeners before the next await: a quick script may exit while we close our copy of the fd.
      child.on("error", (error) => {
        void writeFile(
          step.outPath,
          `sgr-agent: cannot start ${this.options.helperShell}: ${error.message}\n`,
          {
            flag: "a",
          },
        ).finally(() => step.finish(127));
      });
      child.on("exit", (code, signal) => {
        this.helperChildren.delete(step.id);
        step.finish(code ?? 128 + (signal ? osConstants.signals[signal] : 15));
      });
      if (child.pid !== undefined) this.helperChildren.set(step.id, child.pid);
      await out.close();
    })();
  }

  private async startBuild(step: Step): Promise<void> {
    const fifo = await this.openBuildLoop();
    if (!fifo) {
      // Not the script's failure: the driver reports it as a system failure.
      throw new Error("the build container is not running (does the job image have a POSIX shell, sh?)");
    }
    try {
      await fifo.write(`run ${step.id}\n`);
    } finally {
      await fifo.close();
    }
  }

  /**
   * The control FIFO opened for writing once the build container's loop reads it. Non-blocking opens fail at once
   * (ENXIO) while no reader is there, and the loop starts after the helper and looks for the FIFO once a second, so
   * the first step may come before it reads: retried for BUILD_LOOP_WAIT_MS, then undefined.
   */
  private async openBuildLoop(): Promise<Awaited<ReturnType<typeof open>> | undefined> {
    const deadline = Date.now() + BUILD_LOOP_WAIT_MS;
    for (;;) {
      try {
        return await open(
          join(this.options.sharedDir, CONTROL_FIFO),
          constants.O_WRONLY | constants.O_NONBLOCK,
        );
      } catch {
        if (Date.now() >= deadline) return undefined;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async readBuildExit(step: Step): Promise<void> {
    if (step.exitCode !== undefined) return;
    try {
      const text = await readFile(join(this.stepsDir, `${step.id}.rc`), "utf8");
      if (text.endsWith("\n") && /^\d+$/.test(text.trim())) step.finish(Number(text.trim()));
    } catch {
      // not written yet
    }
  }

  /** Polls what events may have missed (watchers are best effort on shared volumes). */
  async refresh(step: Step): Promise<void> {
    if (step.target === "build") await this.readBuildExit(step);
  }

  /** Stops a step: SIGTERM to its processes, SIGKILL after STOP_GRACE_MS. */
  async stop(stepId: string): Promise<void> {
    const step = this.steps.get(stepId);
    if (!step || step.exitCode !== undefined || step.stopRequested) return;
    step.stopRequested = true;
    if (step.target === "helper") {
      const pid = this.helperChildren.get(stepId);
      if (pid === undefined) return;
      signalAll([-pid], "SIGTERM");
      setTimeout(() => {
        if (step.exitCode === undefined) signalAll([-pid], "SIGKILL");
      }, STOP_GRACE_MS).unref();
      return;
    }
    const loopChild = await this.buildStepPid(stepId);
    if (loopChild === undefined) return;
    // The loop's subshell records the exit code, so signal what runs below it, not the subshell itself.
    signalAll(await descendants(loopChild), "SIGTERM");
    setTimeout(async () => {
      if (step.exitCode === undefined && isAlive(loopChild))
        signalAll(await descendants(loopChild), "SIGKILL");
    }, STOP_GRACE_MS).unref();
  }

  private async buildStepPid(stepId: string): Promise<number | undefined> {
    for (let i = 0; i < 20; i++) {
      try {
        const text = await readFile(join(this.stepsDir, `${stepId}.pid`), "utf8");
        if (/^\d+\n$/.test(text)) return Number(text.trim());
      } catch {
        // the loop has not written it yet
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return undefined;
  }

  /** Forgets a finished step and deletes its files (the script holds job secrets). */
  async release(stepId: string): Promise<void> {
    const step = this.steps.get(stepId);
    if (!step || step.exitCode === undefined) return;
    this.steps.delete(stepId);
    await Promise.all(
      ["sh", "out", "rc", "pid"].map((ext) => rm(join(this.stepsDir, `${stepId}.${ext}`), { force: true })),
    );
  }

  /** Stops everything (agent shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    await Promise.all([...this.steps.keys()].map((id) => this.stop(id)));
  }
}
