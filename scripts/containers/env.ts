/**
 * The environment every podman/buildah call of the project runs with: the project's containers.conf (runc,
 * cgroupfs, lowered ulimits) and a registries.conf that makes the local registry a mirror of docker.io (and of
 * quay.io and cgr.dev, under those names as path prefixes), so that
 * images keep their real names (`node:24-bookworm-slim`, `gitlab/gitlab-runner-helper:…`) and resolve to the
 * stand-ins built here.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { toolsDir } from "../tools-dir.js";

/** The local registry listens here (loopback only). */
export const registryHost = "127.0.0.1";
export const registryPort = Number(process.env.SGR_REGISTRY_PORT ?? 5115);
export const registryAddress = `${registryHost}:${registryPort}`;

/** The ECR registry of the emulated account (moto's 123456789012, us-east-1): mirrored by the local registry. */
export const EMULATED_ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

const containersConf = join(dirname(fileURLToPath(import.meta.url)), "containers.conf");
export const containersStateDir = join(toolsDir, "containers");

function registriesConf(): string {
  return `# Written by scripts/containers/env.ts: the local registry mirrors docker.io, quay.io, cgr.dev and the emulated ECR.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
${mirror("docker.io", registryAddress)}
[[registry]]
location = "${registryAddress}"
insecure = true
${otherRegistries.map((host) => mirror(host, `${registryAddress}/${host}`)).join("")}
# The emulated account's ECR (moto's account): image assets are published to the local registry under the same
# repository and tag, as cdk deploy publishes them to ECR, so task definitions keep their real image URIs.
${mirror(EMULATED_ECR_HOST, registryAddress)}`;
}

/** Registries besides docker.io whose images are stood in for here (builders: scripts/images/builders.ts). */
const otherRegistries = ["quay.io", "cgr.dev"];

/** Images under `prefix` resolve to `location` (`quay.io/buildah/stable` → `<local registry>/quay.io/buildah/stable`). */
function mirror(prefix: string, location: string): string {
  return `
[[registry]]
prefix = "${prefix}"
location = "${prefix}"
[[registry.mirror]]
location = "${location}"
insecure = true
`;
}

/**
 * Writes the registries.conf if it is not there; returns its path. The name carries a hash of the content, so
 * checkouts with different settings sharing the tool cache never rewrite each other's file under a running pull.
 */
function writeRegistriesConf(): string {
  const wanted = registriesConf();
  const hash = createHash("sha256").update(wanted).digest("hex").slice(0, 12);
  const path = join(containersStateDir, `registries-${registryPort}-${hash}.conf`);
  if (!existsSync(path) || readFileSync(path, "utf8") !== wanted) {
    mkdirSync(dirname(path), { recursive: true });
    // Written aside and renamed: a pull running meanwhile never reads half a file.
    const aside = `${path}.${process.pid}`;
    writeFileSync(aside, wanted);
    renameSync(aside, path);
  }
  return path;
}

/** Variables that point podman and buildah at the project's settings. */
export function containerEnv(): Record<string, string> {
  return { CONTAINERS_CONF: containersConf, CONTAINERS_REGISTRIES_CONF: writeRegistriesConf() };
}

/** process.env plus containerEnv(), for child processes. */
export function withContainerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, ...containerEnv() };
}

const required = [
  ["podman", "podman"],
  ["buildah", "buildah"],
  ["runc", "runc"],
  ["mmdebstrap", "mmdebstrap"],
  ["docker-registry", "docker-registry"],
] as const;

/** What is missing to run real containers here, as one sentence saying what to install; undefined when all is there. */
export function containerToolsMissing(): string | undefined {
  const missing = required.filter(([command]) => !onPath(command)).map(([, pkg]) => pkg);
  if (missing.length === 0) return undefined;
  return `real containers need ${missing.join(", ")} (Debian packages): run 'npm run setup:test-tools' as root`;
}

/** Throws, saying what to install, when podman and friends are not there. Tests fail, never skip, without them. */
export function requireContainerTools(): void {
  const missing = containerToolsMissing();
  if (missing) throw new Error(missing);
}

function onPath(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
