/** The upstream images the Dockerfiles name, read from their `ARG` defaults (the Dockerfiles are the source). */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface UpstreamPins {
  nodeImage: string;
  goImage: string;
  /** The helper's base: the Debian stand-in, so it must be the suite the stand-in builds. */
  debianImage: string;
  runnerVersion: string;
}

function argDefault(dockerfile: string, name: string): string {
  const text = readFileSync(join(repoRoot, dockerfile), "utf8");
  const value = text.match(new RegExp(`^ARG ${name}=(\\S+)$`, "m"))?.[1];
  if (!value) throw new Error(`${dockerfile} has no 'ARG ${name}=…' default`);
  return value;
}

export function upstreamPins(): UpstreamPins {
  const manager = "images/manager/Dockerfile";
  const helper = "images/helper/Dockerfile";
  const pins = {
    nodeImage: argDefault(manager, "NODE_IMAGE"),
    goImage: argDefault(manager, "GO_IMAGE"),
    debianImage: argDefault(helper, "DEBIAN_IMAGE"),
    runnerVersion: argDefault(manager, "GITLAB_RUNNER_VERSION"),
  };
  for (const [name, value] of [
    ["GO_IMAGE", pins.goImage],
    ["GITLAB_RUNNER_VERSION", pins.runnerVersion],
  ] as const) {
    if (argDefault(helper, name) !== value) throw new Error(`${manager} and ${helper} disagree on ${name}`);
  }
  return pins;
}
