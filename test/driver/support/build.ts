/** Builds the driver (daemon, clients, agent) once per test process, under a lock shared by parallel workers. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..", "..");

export interface DriverBuild {
  /** The Go thin client gitlab-runner execs. */
  client: string;
  nodeClient: string;
  daemon: string;
  /** The agent executable (Go, this machine's architecture). */
  agent: string;
}

let built: DriverBuild | undefined;

export function ensureDriverBuilt(): DriverBuild {
  if (built) return built;
  // The integration global setup builds once before any worker starts (SGR_DRIVER_PREBUILT): rebuilding from
  // a worker would swap dist/ under daemons and agents that other test files are running.
  if (process.env.SGR_DRIVER_PREBUILT !== "1") buildDriver();
  built = {
    client: join(root, "dist/driver/sgr-driver"),
    nodeClient: join(root, "dist/driver/sgr-driver-node.mjs"),
    daemon: join(root, "dist/driver/daemon.mjs"),
    agent: join(root, "dist/agent/sgr-agent"),
  };
  return built;
}

/** Builds dist/driver and dist/agent, serialised with any other build on this machine. */
export function buildDriver(): void {
  try {
    execFileSync(
      "flock",
      ["/tmp/sgr-driver-build.lock", process.execPath, join(root, "scripts/build-driver.mjs")],
      {
        stdio: "pipe",
      },
    );
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(`building the driver failed: ${e.stderr?.toString() || e.message}`);
  }
}
