/**
 * Image builders run as a Fargate job container would run them: podman with Fargate's capabilities and Docker's
 * seccomp profile (test/support/fargate-security.ts), not privileged, no devices, on the host network (loopback
 * only) so they reach the local registry.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { registryAddress } from "../../scripts/containers/env.js";
import { type Builder, ensureBuilders } from "../../scripts/images/builders.js";
import { repoRoot } from "../../scripts/images/pins.js";
import { podmanResult } from "../images/support.js";
import { fargateSecurityArgs } from "../support/fargate-security.js";

/** A cold build compiles the builders from the Go module proxy (minutes on two cores); a warm one is a lookup. */
export const BUILDER_IMAGE_TIMEOUT_MS = 30 * 60_000;

export const exampleDir = join(repoRoot, "examples/image-build");
export const templateFile = join(repoRoot, "templates/image-build.gitlab-ci.yml");

/** kaniko's flags for the local registry: plain HTTP, and the stand-in for docker.io (`FROM debian:…`). */
export const LOCAL_REGISTRY_FLAGS = [
  `--registry-mirror=${registryAddress}`,
  `--insecure-registry=${registryAddress}`,
  "--insecure-pull",
  "--insecure",
].join(" ");

/** The local references of the builder images, built or reused. */
export async function builderImages(builders: readonly Builder[]): Promise<string[]> {
  return (await ensureBuilders(builders)).map((image) => image.reference);
}

/** `podman run --rm` under Fargate's rules; resolves with the exit code and everything written. */
export function runUnderFargateRules(args: readonly string[]) {
  return podmanResult(["run", "--rm", "--network", "host", ...fargateSecurityArgs(), ...args]);
}

/**
 * The build script of the CI template (`.sgr-image-build`'s `script:` block), exactly as a job runs it: the lines of
 * its one `- |` item, de-indented.
 */
export function templateScript(): string {
  const lines = readFileSync(templateFile, "utf8").split("\n");
  const start = lines.findIndex((line) => /^ {4}- \|$/.test(line));
  if (start < 0) throw new Error(`${templateFile}: no '- |' script block`);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== "" && !line.startsWith("      ")) break;
    body.push(line.slice(6));
  }
  return body.join("\n").trim();
}

/**
 * The CI template's default variables (`.sgr-image-build`'s `variables:` block, `NAME: "value"` lines), as GitLab
 * passes them to a job that extends it.
 */
export function templateVariables(): Record<string, string> {
  const lines = readFileSync(templateFile, "utf8").split("\n");
  const start = lines.indexOf("  variables:");
  if (start < 0) throw new Error(`${templateFile}: no variables: block`);
  const variables: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    if (line.trim().startsWith("#")) continue;
    const match = /^ {4}([A-Z_][A-Z0-9_]*): "(.*)"$/.exec(line);
    if (!match) break;
    variables[match[1]!] = match[2]!;
  }
  return variables;
}

/** Where a test pushes: a repository of its own in the local registry, a fresh tag per run. */
export function destination(repository: string): string {
  return `${registryAddress}/sgr-test/${repository}:${Date.now().toString(36)}`;
}
