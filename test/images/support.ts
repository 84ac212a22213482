/**
 * Real containers of the built images: `ensureImages()` (the `npm run images` build, reused when nothing changed)
 * and podman runs with the project's settings. No tier is skipped: without podman the tests fail saying what to
 * install.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { requireContainerTools, withContainerEnv } from "../../scripts/containers/env.js";
import { type BuiltImages, ensureImages } from "../../scripts/images/build.js";
import { podman } from "../../scripts/images/podman.js";

/** A cold build (stand-ins, npm ci inside the build stages) takes minutes on two cores; a warm one seconds. */
export const IMAGE_BUILD_TIMEOUT_MS = 30 * 60_000;

export function builtImages(): Promise<BuiltImages> {
  requireContainerTools();
  return ensureImages();
}

export { podman };

/** A loopback address of its own for a container on the host network (all of 127.0.0.0/8 is on `lo`). */
export function loopbackAddress(): string {
  return `127.0.0.${100 + Math.floor(Math.random() * 150)}`;
}

export const containerName = (prefix: string) => `sgr-test-${prefix}-${randomBytes(4).toString("hex")}`;

export interface Container {
  name: string;
  /** Everything it wrote so far (stdout and stderr). */
  logs(): Promise<string>;
  /** Resolves with the exit code once it ended. */
  wait(): Promise<number>;
  remove(): Promise<void>;
}

/**
 * `podman run -d` with `args` (options, image, command). `secretEnv` values go to podman's environment and are
 * passed by name (`--env NAME`), so no secret is on a command line.
 */
export async function runDetached(
  name: string,
  args: readonly string[],
  secretEnv: Record<string, string> = {},
): Promise<Container> {
  const byName = Object.keys(secretEnv).flatMap((key) => ["--env", key]);
  await podman(["run", "-d", "--name", name, ...byName, ...args], { env: secretEnv });
  return {
    name,
    logs: () => podmanOutput(["logs", name]),
    wait: async () => Number(await podman(["wait", name])),
    remove: async () => {
      await podman(["rm", "--force", "--ignore", "--time", "0", name]).catch(() => undefined);
    },
  };
}

/** stdout and stderr of a podman command together, whatever its exit code. */
export async function podmanOutput(args: readonly string[]): Promise<string> {
  return (await podmanResult(args)).output;
}

/** podman's exit code and its stdout and stderr together. */
export function podmanResult(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("podman", args, { env: withContainerEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, output: out }));
  });
}

/** Runs a one-off command in the image (entrypoint replaced) and returns its stdout. */
export function inImage(image: string, command: readonly string[], options: readonly string[] = []) {
  return podman([
    "run",
    "--rm",
    "--network",
    "none",
    ...options,
    "--entrypoint",
    command[0]!,
    image,
    ...command.slice(1),
  ]);
}
