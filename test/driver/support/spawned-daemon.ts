/**
 * A daemon the thin client started detached (no test holds its handle): found through its pid file, stopped with
 * SIGTERM, and waited for (up to 2 s) so the next test file does not meet it.
 */
import { existsSync, readFileSync } from "node:fs";
import { isAlive } from "../../../src/driver/backends/processes.js";

export async function stopSpawnedDaemon(socketPath: string): Promise<void> {
  const pidFile = `${socketPath}.pid`;
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (isAlive(pid)) process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
}
