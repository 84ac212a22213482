import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { forwardDaemonLog } from "./daemon-log.js";

const dirs: string[] = [];
function logPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "sgr-daemon-log-"));
  dirs.push(dir);
  return join(dir, "daemon.sock.log");
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const tick = (ms = 40) => new Promise((r) => setTimeout(r, ms));

describe("forwardDaemonLog", () => {
  it("copies whole lines written after it started, never a half line, and skips older content", async () => {
    const path = logPath();
    writeFileSync(path, "from an earlier manager\n");
    const out: string[] = [];
    const forwarder = forwardDaemonLog({ path, write: (t) => out.push(t), pollMs: 10 });
    await tick();
    appendFileSync(path, '{"a":1}\n{"b":');
    await tick();
    expect(out.join("")).toBe('{"a":1}\n');
    appendFileSync(path, "2}\n");
    await tick();
    await forwarder.stop();
    expect(out.join("")).toBe('{"a":1}\n{"b":2}\n');
    expect(out.every((chunk) => chunk.endsWith("\n"))).toBe(true);
  });

  it("follows a log created after it started (the first job starts the daemon) and flushes the rest on stop", async () => {
    const path = logPath();
    const out: string[] = [];
    const forwarder = forwardDaemonLog({ path, write: (t) => out.push(t), pollMs: 10, maxReadBytes: 4 });
    await tick();
    writeFileSync(path, "first line\nno newline yet");
    await forwarder.stop();
    expect(out.join("")).toBe("first line\nno newline yet\n");
  });

  it("starts over when the file is replaced, and keeps multi-byte characters split across reads intact", async () => {
    const path = logPath();
    writeFileSync(path, "old old old old old\n");
    const out: string[] = [];
    const forwarder = forwardDaemonLog({ path, write: (t) => out.push(t), pollMs: 10, maxReadBytes: 3 });
    await tick();
    rmSync(path);
    writeFileSync(path, "größe ✓\n");
    await tick(150);
    await forwarder.stop();
    expect(out.join("")).toBe("größe ✓\n");
  });
});
