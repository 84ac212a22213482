/**
 * Container exits of one local Fargate instance, seen through ONE `podman events` stream (filtered by the
 * instance label) plus a `podman ps` sweep every second as a safety net, instead of a `podman wait` per container:
 * each podman process costs tens of MB, and twenty job tasks would otherwise need dozens of them.
 */
import type { ChildProcess } from "node:child_process";
import { INSTANCE_LABEL, podman, podmanSpawn } from "./podman.js";

export class ExitWatcher {
  private readonly waiting = new Map<string, (exitCode: number) => void>();
  private readonly events: ChildProcess;
  private readonly sweep: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly instance: string) {
    this.events = podmanSpawn([
      "events",
      "--filter",
      "event=died",
      "--filter",
      `label=${INSTANCE_LABEL}=${instance}`,
      "--format",
      "{{json .}}",
    ]);
    let rest = "";
    this.events.stdout?.on("data", (chunk: Buffer) => {
      const lines = (rest + chunk.toString("utf8")).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) this.onEvent(line);
    });
    this.sweep = setInterval(() => void this.sweepExited(), 1000);
  }

  /** Resolves with the container's exit code once it has exited (call right after `podman start`). */
  exited(name: string): Promise<number> {
    return new Promise((resolve) => this.waiting.set(name, resolve));
  }

  close(): void {
    clearInterval(this.sweep);
    this.events.kill();
  }

  private settle(name: string, exitCode: number): void {
    const resolve = this.waiting.get(name);
    if (!resolve) return;
    this.waiting.delete(name);
    resolve(exitCode);
  }

  private onEvent(line: string): void {
    try {
      const event = JSON.parse(line) as { Name?: string; ContainerExitCode?: number };
      if (event.Name) this.settle(event.Name, event.ContainerExitCode ?? 0);
    } catch {
      // not an event line
    }
  }

  /** Exited containers the event stream has not reported (it may have started after them). */
  private async sweepExited(): Promise<void> {
    if (this.sweeping || this.waiting.size === 0) return;
    this.sweeping = true;
    try {
      const out = await podman([
        "ps",
        "--all",
        "--filter",
        `label=${INSTANCE_LABEL}=${this.instance}`,
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}} {{.ExitCode}}",
      ]);
      for (const line of out.stdout.split("\n")) {
        const [name, code] = line.trim().split(" ");
        if (name && this.waiting.has(name)) this.settle(name, Number(code ?? 0));
      }
    } finally {
      this.sweeping = false;
    }
  }
}
