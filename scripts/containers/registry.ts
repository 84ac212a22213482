/**
 * The local container registry (Debian's docker-registry, the CNCF distribution registry) on 127.0.0.1: started
 * once and reused by every later build and test run. Its storage lives in the tool cache, outside the repository.
 *
 *   npx tsx scripts/containers/registry.ts [start|stop|status]
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { containersStateDir, registryAddress, requireContainerTools } from "./env.js";

const registryDir = join(containersStateDir, "registry");
const pidFile = join(registryDir, "registry.pid");

/** Does a registry answer the v2 API at the address? */
export async function registryAnswers(address = registryAddress): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(1_000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

function config(): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(registryDir, "data")}
  delete:
    enabled: true
http:
  addr: ${registryAddress}
`;
}

/** Starts the registry unless one already answers; resolves with its address once it serves. */
export async function ensureRegistry(): Promise<string> {
  if (await registryAnswers()) return registryAddress;
  requireContainerTools();
  mkdirSync(join(registryDir, "data"), { recursive: true });
  const configFile = join(registryDir, "config.yml");
  writeFileSync(configFile, config());
  const log = openSync(join(registryDir, "registry.log"), "a");
  const child = spawn("docker-registry", ["serve", configFile], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  child.unref();
  if (child.pid) writeFileSync(pidFile, String(child.pid));
  for (let waited = 0; waited < 15_000; waited += 100) {
    if (await registryAnswers()) return registryAddress;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = readFileSync(join(registryDir, "registry.log"), "utf8").split("\n").slice(-5).join("\n");
  throw new Error(`the local registry did not start on ${registryAddress}:\n${tail}`);
}

/** Stops a registry this script started (the pid file names it). */
export function stopRegistry(): boolean {
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, "utf8"));
  rmSync(pidFile, { force: true });
  try {
    process.kill(pid, "SIGTERM");
    return true;
  } catch {
    return false;
  }
}

async function main(command = "start"): Promise<void> {
  if (command === "start") console.log(`registry serving on ${await ensureRegistry()}`);
  else if (command === "stop") console.log(stopRegistry() ? "registry stopped" : "no registry started here");
  else if (command === "status") {
    const up = await registryAnswers();
    console.log(up ? `registry serving on ${registryAddress}` : `no registry on ${registryAddress}`);
    process.exitCode = up ? 0 : 1;
  } else {
    console.error("usage: registry.ts [start|stop|status]");
    process.exitCode = 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv[2]).catch((err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  });
}
