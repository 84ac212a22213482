/**
 * Real containers on this machine: the project's podman settings run a container, and an image pushed to the
 * local registry is pulled back by its docker.io name (the registry mirrors docker.io).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { registryAddress, requireContainerTools, withContainerEnv } from "../../scripts/containers/env.js";
import { ensureRegistry } from "../../scripts/containers/registry.js";

const env = withContainerEnv();
const podman = (...args: string[]) => execFileSync("podman", args, { env, encoding: "utf8" }).trim();
const name = `sgr-smoke-${process.pid}`;

describe("real containers", () => {
  afterAll(() => {
    for (const ref of [`docker.io/library/${name}:1`, `${registryAddress}/library/${name}:1`]) {
      execFileSync("podman", ["rmi", "--force", "--ignore", ref], { env, stdio: "ignore" });
    }
  });

  it("run an image pulled from the local registry under its docker.io name", async () => {
    requireContainerTools();
    await ensureRegistry();
    const root = mkdtempSync(join(tmpdir(), "sgr-smoke-"));
    try {
      mkdirSync(join(root, "bin"));
      copyFileSync("/bin/busybox", join(root, "bin/busybox"));
      execFileSync("tar", [
        "-C",
        join(root, "bin"),
        "-cf",
        join(root, "rootfs.tar"),
        "--transform",
        "s,^,bin/,",
        "busybox",
      ]);
      podman("import", join(root, "rootfs.tar"), `${registryAddress}/library/${name}:1`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    podman("push", "--quiet", `${registryAddress}/library/${name}:1`);
    podman("rmi", `${registryAddress}/library/${name}:1`);

    const out = podman(
      "run",
      "--quiet",
      "--rm",
      "--network",
      "host",
      `${name}:1`,
      "/bin/busybox",
      "echo",
      "from the mirror",
    );
    expect(out).toBe("from the mirror");
  });
});
