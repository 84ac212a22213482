/** One image build at a time on this machine (tests, the CLI and other tiers may ask concurrently). */
import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

function holderAlive(path: string): boolean {
  try {
    const pid = Number(readFileSync(path, "utf8"));
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `work` holding an exclusive lock file; a lock left by a dead process is taken over. */
export async function withLock<T>(path: string, work: () => Promise<T>, timeoutMs = 60 * 60_000): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  // The pid is written first and the lock appears with it (a hard link), so a reader never sees it empty.
  const mine = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(mine, String(process.pid));
  for (;;) {
    try {
      linkSync(mine, path);
      rmSync(mine, { force: true });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (!holderAlive(path)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        rmSync(mine, { force: true });
        throw new Error(`timed out waiting for the image build lock ${path}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(path, { force: true });
  }
}
