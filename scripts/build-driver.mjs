#!/usr/bin/env node
// Builds the job driver into dist/: the daemon and the Node client (esbuild bundles), the thin Go client
// gitlab-runner execs per stage, and the agent for this machine's architecture (dist/agent/sgr-agent: the local
// backend runs it). Go builds use the machine's Go; stdlib only, so no module download.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { buildAgent, placeExecutable } from "./build-agent.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist");
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  logLevel: "warning",
  // Some bundled CommonJS dependencies call require(); give ESM output one.
  banner: {
    js: "import { createRequire as __sgrCreateRequire } from 'node:module'; const require = __sgrCreateRequire(import.meta.url);",
  },
};

await Promise.all([
  build({
    ...common,
    entryPoints: [join(root, "src/driver/daemon/main.ts")],
    outfile: join(out, "driver/daemon.mjs"),
  }),
  build({
    ...common,
    entryPoints: [join(root, "src/driver/client/main.ts")],
    outfile: join(out, "driver/sgr-driver-node.mjs"),
  }),
]);

if (!process.argv.includes("--no-go")) {
  mkdirSync(join(out, "driver"), { recursive: true });
  execFileSync(
    "go",
    ["build", "-trimpath", "-ldflags=-s -w", "-o", join(out, "driver/sgr-driver"), "./main.go"],
    {
      cwd: join(root, "src/driver/client-go"),
      stdio: "inherit",
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GO111MODULE: "off" },
    },
  );
}
// The manager image needs no agent (its own Dockerfile stage builds the helper's): `--no-agent` skips it.
if (!process.argv.includes("--no-go") && !process.argv.includes("--no-agent")) {
  const hostArch = { x64: "amd64", arm64: "arm64" }[process.arch];
  if (!hostArch) throw new Error(`the agent does not run on ${process.arch}`);
  placeExecutable(buildAgent(hostArch), join(out, "agent/sgr-agent"));
}
console.log(`driver built in ${out}`);
