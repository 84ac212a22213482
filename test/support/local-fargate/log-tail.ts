/**
 * Follows a container's k8s-file log (podman's default log driver) by reading the file, instead of a
 * `podman logs -f` process per container. Lines look like `<RFC 3339 time> stdout|stderr F|P <text>`; P marks a
 * partial line continued by the next entry.
 */
import { open } from "node:fs/promises";

export interface LogLine {
  timestamp: number;
  message: string;
}

export class LogTail {
  private offset = 0;
  private rest = "";
  private partial = "";
  private readonly timer: NodeJS.Timeout;
  private reading = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly onLines: (lines: LogLine[]) => void,
    intervalMs = 200,
  ) {
    this.timer = setInterval(() => {
      this.reading = this.reading.then(() => this.read());
    }, intervalMs);
  }

  /** Reads what is left and stops following. */
  async finish(): Promise<void> {
    clearInterval(this.timer);
    this.reading = this.reading.then(() => this.read());
    await this.reading;
    if (this.partial) this.onLines([{ timestamp: Date.now(), message: this.partial }]);
    this.partial = "";
  }

  private async read(): Promise<void> {
    let file: Awaited<ReturnType<typeof open>> | undefined;
    try {
      file = await open(this.path, "r");
      const { size } = await file.stat();
      if (size <= this.offset) return;
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      this.parse(buffer.subarray(0, bytesRead).toString("utf8"));
    } catch {
      // not written yet, or already removed
    } finally {
      await file?.close();
    }
  }

  private parse(text: string): void {
    const entries = (this.rest + text).split("\n");
    this.rest = entries.pop() ?? "";
    const lines: LogLine[] = [];
    for (const entry of entries) {
      const match = /^(\S+) (?:stdout|stderr) ([FP]) ?(.*)$/.exec(entry);
      if (!match) continue;
      const [, time, kind, message] = match;
      this.partial += message ?? "";
      if (kind === "P") continue;
      const parsed = Date.parse(time ?? "");
      lines.push({ timestamp: Number.isNaN(parsed) ? Date.now() : parsed, message: this.partial });
      this.partial = "";
    }
    if (lines.length > 0) this.onLines(lines);
  }
}
