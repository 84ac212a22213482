/**
 * podman, run with the project's container settings. Every object the local Fargate creates carries the label
 * `local-fargate.instance=<id>`, so clean-up and the "nothing left running" check find exactly its own.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { withContainerEnv } from "../../../scripts/containers/env.js";

export const INSTANCE_LABEL = "local-fargate.instance";

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs podman; never throws for a non-zero exit (callers decide what a failure means). */
export function podman(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  return new Promise<PodmanResult>((resolve) => {
    execFile(
      "podman",
      args,
      {
        env: withContainerEnv({ ...process.env, ...options.env }),
        maxBuffer: 16 * 1024 * 1024,
        timeout: options.timeoutMs ?? 300_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** podman that must succeed: throws with its stderr otherwise. */
export async function podmanOk(
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<string> {
  const result = await podman(args, options);
  if (result.code !== 0) {
    throw new Error(
      `podman ${args[0]} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout.trim();
}

const children = new Set<ChildProcess>();

/** A long-running podman (logs -f, wait) whose output the caller reads; tracked until it exits. */
export function podmanSpawn(args: string[]): ChildProcess {
  const child = spawn("podman", args, { env: withContainerEnv(), stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("close", () => children.delete(child));
  return child;
}

/** podman processes started by podmanSpawn that have not exited yet. */
export function livePodmanChildren(): number {
  return children.size;
}

/** Names of this instance's (or, without an id, any local Fargate's) containers, pods and volumes. */
export async function leftovers(
  instance?: string,
): Promise<{ containers: string[]; pods: string[]; volumes: string[] }> {
  const filter = instance ? `label=${INSTANCE_LABEL}=${instance}` : `label=${INSTANCE_LABEL}`;
  const list = async (args: string[]) =>
    (await podmanOk(args))
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
  return {
    containers: await list(["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]),
    pods: await list(["pod", "ps", "--filter", filter, "--format", "{{.Name}}"]),
    volumes: await list(["volume", "ls", "--filter", filter, "--format", "{{.Name}}"]),
  };
}

/** Removes every pod, container and volume of an instance. */
export async function removeAll(instance: string): Promise<void> {
  const { pods, containers, volumes } = await leftovers(instance);
  if (containers.length > 0) await podman(["rm", "--force", "--time", "0", ...containers]);
  if (pods.length > 0) await podman(["pod", "rm", "--force", ...pods]);
  if (volumes.length > 0) await podman(["volume", "rm", "--force", ...volumes]);
}
