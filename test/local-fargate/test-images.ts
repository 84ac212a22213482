/**
 * Tiny images for the local Fargate's own tests, built from the machine's static busybox (`FROM scratch` +
 * /bin/busybox + /bin/sh) and pushed to the local registry once; later runs find them there.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registryAddress, requireContainerTools, withContainerEnv } from "../../scripts/containers/env.js";
import { ensureRegistry } from "../../scripts/containers/registry.js";

export const IMAGE_REPO = `${registryAddress}/local-fargate`;

export interface TestImage {
  /** busybox with /bin/sh, no entrypoint, root. */
  busybox: string;
  /** The same with ENTRYPOINT ["/bin/echo", "from-entrypoint"], USER 1234 and WORKDIR /work. */
  configured: string;
  /** The same content, marked arm64 (no arm64 binary in it: only its manifest's platform matters). */
  arm64: string;
  /**
   * A stand-in for the product's helper image: makes the control FIFO the build loop waits for, says which
   * address and port its agent would listen on, and idles until SIGTERM.
   */
  helperStandIn: string;
}

const TAG = "1";

async function inRegistry(name: string): Promise<boolean> {
  const res = await fetch(`http://${registryAddress}/v2/local-fargate/${name}/manifests/${TAG}`, {
    method: "HEAD",
    headers: {
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  }).catch(() => undefined);
  return res?.status === 200;
}

function build(name: string, changes: string[], arch?: string): void {
  const env = withContainerEnv();
  const root = mkdtempSync(join(tmpdir(), "lf-image-"));
  try {
    mkdirSync(join(root, "fs/bin"), { recursive: true });
    mkdirSync(join(root, "fs/work"), { recursive: true });
    mkdirSync(join(root, "fs/tmp"), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "fs/bin/busybox"));
    symlinkSync("busybox", join(root, "fs/bin/sh"));
    execFileSync("tar", ["-C", join(root, "fs"), "-cf", join(root, "rootfs.tar"), "."]);
    const ref = `${IMAGE_REPO}/${name}:${TAG}`;
    const args = ["import", ...(arch ? ["--arch", arch] : [])];
    for (const change of ["ENV PATH=/bin", ...changes]) args.push("--change", change);
    execFileSync("podman", [...args, join(root, "rootfs.tar"), ref], { env, stdio: "ignore" });
    execFileSync("podman", ["push", "--quiet", "--tls-verify=false", ref], { env, stdio: "ignore" });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Builds (once) and returns the test images' references. */
export async function testImages(): Promise<TestImage> {
  requireContainerTools();
  await ensureRegistry();
  const wanted: [keyof TestImage, string, string[], string?][] = [
    ["busybox", "busybox", []],
    [
      "configured",
      "configured",
      ['ENTRYPOINT ["/bin/busybox", "echo", "from-entrypoint"]', "USER 1234", "WORKDIR /work"],
    ],
    ["arm64", "busybox-arm64", [], "arm64"],
    [
      "helperStandIn",
      "helper-stand-in",
      [
        `ENTRYPOINT ["/bin/sh", "-c", "trap 'exit 0' TERM; mkfifo \\"$SGR_SHARED/ctl\\"; echo \\"agent on $SGR_AGENT_HOST:$SGR_AGENT_PORT\\"; sleep 3600 & wait"]`,
      ],
    ],
  ];
  const out = {} as TestImage;
  for (const [key, name, changes, arch] of wanted) {
    if (!(await inRegistry(name))) build(name, changes, arch);
    out[key] = `${IMAGE_REPO}/${name}:${TAG}`;
  }
  return out;
}
