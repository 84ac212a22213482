/**
 * Copies the driver daemon's log into the manager's stdout (the container log, shipped by awslogs).
 *
 * gitlab-runner's first stage client starts the daemon detached with its stdout and stderr appended to
 * `<socket>.log` (src/driver/README.md), so without this its structured logs and its queue-to-start EMF metric
 * lines (src/observability/emf.ts) would stay on the task's disk and never reach CloudWatch. Following the file,
 * rather than the manager starting the daemon itself, keeps every daemon the manager ever gets — the first, and
 * one restarted after a crash or an idle exit — on the same path, and keeps a daemon fault out of the manager.
 * Only whole lines are copied, so a metric line is never split or interleaved with the manager's own lines.
 */
import { open, stat } from "node:fs/promises";

export interface DaemonLogForwarder {
  /** Copies what is left (a last partial line too), then stops following. */
  stop(): Promise<void>;
}

export interface ForwardOptions {
  path: string;
  write: (text: string) => void;
  pollMs?: number;
  /** Largest read per poll: a burst of daemon output is copied over several polls, not held in memory at once. */
  maxReadBytes?: number;
}

export function forwardDaemonLog(options: ForwardOptions): DaemonLogForwarder {
  const maxRead = options.maxReadBytes ?? 1 << 20;
  // A log left by an earlier manager process on this disk is history, not this manager's output: start at its end.
  // A file that appears later is read from its start.
  let position: { ino: number; offset: number } | undefined;
  // Bytes after the last newline read so far (a Buffer: a chunk may end inside a multi-byte character).
  let partial = Buffer.alloc(0);
  const ready = stat(options.path).then(
    (s) => {
      position = { ino: s.ino, offset: s.size };
    },
    () => {
      position = { ino: -1, offset: 0 };
    },
  );

  const copyNewBytes = async (final: boolean): Promise<void> => {
    await ready;
    let current: Awaited<ReturnType<typeof stat>>;
    try {
      current = await stat(options.path);
    } catch {
      return; // not created yet (no job so far), or removed: nothing to copy
    }
    if (!position || current.ino !== position.ino || current.size < position.offset) {
      // Replaced or truncated: the new content starts at 0.
      position = { ino: current.ino, offset: 0 };
      partial = Buffer.alloc(0);
    }
    if (current.size > position.offset) {
      const length = Math.min(current.size - position.offset, maxRead);
      const file = await open(options.path, "r");
      try {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await file.read(buffer, 0, length, position.offset);
        position.offset += bytesRead;
        partial = Buffer.concat([partial, buffer.subarray(0, bytesRead)]);
      } finally {
        await file.close();
      }
    }
    const end = partial.lastIndexOf(0x0a);
    if (end >= 0) {
      options.write(partial.subarray(0, end + 1).toString("utf8"));
      partial = partial.subarray(end + 1);
    }
    if (final && partial.length > 0) {
      options.write(`${partial.toString("utf8")}\n`);
      partial = Buffer.alloc(0);
    }
  };

  let busy: Promise<void> = Promise.resolve();
  const poll = () => {
    // One copy at a time, in order.
    busy = busy.then(() => copyNewBytes(false)).catch(() => {});
  };
  const timer = setInterval(poll, options.pollMs ?? 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      // Drain everything (several reads when more than maxReadBytes is waiting).
      for (let i = 0; i < 64; i++) {
        const before = position?.offset;
        await copyNewBytes(false).catch(() => {});
        if (position?.offset === before) break;
      }
      await copyNewBytes(true).catch(() => {});
    },
  };
}
