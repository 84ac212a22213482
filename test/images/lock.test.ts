/** The machine-wide image build lock: one holder at a time, and a lock left by a dead process is taken over. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withLock } from "../../scripts/images/lock.js";

const dir = mkdtempSync(join(tmpdir(), "sgr-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("image build lock", () => {
  it("lets one holder in at a time", async () => {
    const lock = join(dir, "serial.lock");
    const events: string[] = [];
    const hold = (name: string) =>
      withLock(lock, async () => {
        events.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 50));
        events.push(`${name} out`);
      });
    // Same process, so the holder looks alive to the waiter: it must wait, not take over.
    await Promise.all([hold("a"), hold("b")]);
    expect(events).toEqual(
      events[0] === "a in" ? ["a in", "a out", "b in", "b out"] : ["b in", "b out", "a in", "a out"],
    );
  });

  it("takes over a lock whose holder is gone", async () => {
    const lock = join(dir, "stale.lock");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    writeFileSync(lock, dead.stdout.toString());
    expect(await withLock(lock, async () => "ran", 2_000)).toBe("ran");
  });
});
