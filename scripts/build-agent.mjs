#!/usr/bin/env node
// Builds the agent (src/agent, Go) for linux/amd64 and linux/arm64 with src/agent/build.sh, cached outside the
// repository by content: the hash of its sources, the build script and the Go version. A cache hit copies the
// binary; a miss builds it once for every checkout on this machine.
// Usage: node scripts/build-agent.mjs [arch…]  (default: both) → dist/agent/linux-<arch>/sgr-agent
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src/agent");
const cacheRoot = join(
  process.env.SGR_TOOLS_DIR ?? join(homedir(), ".cache", "serverless-gitlab-runner"),
  "agent",
);
export const AGENT_ARCHES = ["amd64", "arm64"];

/** Hash of everything the binary is made of: non-test Go sources, go.mod, the build script, the Go toolchain. */
function sourceHash() {
  const hash = createHash("sha256");
  const files = readdirSync(source)
    .filter(
      (name) => (name.endsWith(".go") && !name.endsWith("_test.go")) || ["build.sh", "go.mod"].includes(name),
    )
    .sort();
  for (const name of files)
    hash
      .update(name)
      .update("\0")
      .update(readFileSync(join(source, name)))
      .update("\0");
  hash.update(execFileSync("go", ["version"], { encoding: "utf8" }));
  return hash.digest("hex").slice(0, 24);
}

/** The agent binary for `arch`, from the cache or built now; returns its path in dist/agent/linux-<arch>/. */
export function buildAgent(arch, hash = sourceHash()) {
  if (!AGENT_ARCHES.includes(arch))
    throw new Error(`the agent is built for ${AGENT_ARCHES.join(", ")}, not ${arch}`);
  const cached = join(cacheRoot, hash, `linux-${arch}`, "sgr-agent");
  if (!existsSync(cached)) {
    mkdirSync(dirname(cached), { recursive: true });
    const partial = `${cached}.${process.pid}.partial`;
    execFileSync("sh", [join(source, "build.sh"), arch, partial], { stdio: "inherit" });
    renameSync(partial, cached);
  }
  const out = join(root, "dist/agent", `linux-${arch}`, "sgr-agent");
  placeExecutable(cached, out);
  return out;
}

/** Copies an executable into place by rename: a copy over a binary that is running fails (ETXTBSY). */
export function placeExecutable(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  const partial = `${to}.${process.pid}.partial`;
  copyFileSync(from, partial);
  renameSync(partial, to);
}

export function buildAgents(arches = AGENT_ARCHES) {
  const hash = sourceHash();
  return arches.map((arch) => buildAgent(arch, hash));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arches = process.argv.slice(2);
  for (const out of buildAgents(arches.length > 0 ? arches : AGENT_ARCHES)) console.log(out);
}
