/**
 * Fargate's security rules for a container, as `podman run` arguments: not privileged, no devices, Docker's default
 * capability set and nothing more (a Fargate task definition may add SYS_PTRACE only; the job tasks add nothing),
 * and Docker's default seccomp profile.
 *
 * podman's own default profile (containers-common's seccomp.json, Debian 12) is not Docker's: it also allows
 * `mount`, `umount2`, `unshare`, `setns`, `pivot_root`, `keyctl` and namespace flags on `clone` without
 * CAP_SYS_ADMIN, which is exactly what image builders try. So Docker's profile is used, from the module that Docker
 * and containerd take it from (github.com/moby/profiles/seccomp on the Go module proxy), pinned and cached.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { toolsDir } from "../../scripts/tools-dir.js";

/** Docker's default capabilities: what a Fargate container runs with when its task definition adds none. */
export const FARGATE_CAPABILITIES = [
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "NET_RAW",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
] as const;

/** The module Docker's default seccomp profile (`default.json`) is published in. */
export const DOCKER_SECCOMP = { module: "github.com/moby/profiles/seccomp", version: "v0.3.0" } as const;

/** Docker's default seccomp profile as a file (downloaded once from the Go module proxy). */
export function dockerSeccompProfile(): string {
  const dest = join(toolsDir, "containers", `docker-seccomp-${DOCKER_SECCOMP.version}.json`);
  if (existsSync(dest)) return dest;
  const spec = `${DOCKER_SECCOMP.module}@${DOCKER_SECCOMP.version}`;
  mkdirSync(join(toolsDir, "containers"), { recursive: true });
  const info = JSON.parse(
    execFileSync("go", ["mod", "download", "-json", spec], { cwd: toolsDir, encoding: "utf8" }),
  ) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${spec}: ${info.Error ?? "no directory"}`);
  copyFileSync(join(info.Dir, "default.json"), dest);
  return dest;
}

/** `podman run` arguments that give a container exactly Fargate's capabilities and seccomp profile. */
export function fargateSecurityArgs(): string[] {
  return [
    "--cap-drop=ALL",
    `--cap-add=${FARGATE_CAPABILITIES.join(",")}`,
    "--security-opt",
    `seccomp=${dockerSeccompProfile()}`,
  ];
}
