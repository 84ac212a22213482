/**
 * What does not build under Fargate's rules, and the error each builder gives (docs/limitations.md quotes them):
 * buildah and BuildKit need a mount namespace or a user namespace for a build, and both need CAP_SYS_ADMIN, which
 * Fargate never grants (Docker's seccomp profile also refuses `unshare`, `mount` and namespace `clone` without it).
 * The same buildah image builds the same Dockerfile once SYS_ADMIN is added, so the image is not what fails.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { containerEnv } from "../../scripts/containers/env.js";
import { BUILDER_IMAGE_TIMEOUT_MS, builderImages, exampleDir, runUnderFargateRules } from "./support.js";

let buildah: string;
let buildkit: string;

beforeAll(async () => {
  [buildah, buildkit] = (await builderImages(["buildah", "buildkit"])) as [string, string];
}, BUILDER_IMAGE_TIMEOUT_MS);

/** The example's Dockerfile, and the registries.conf that resolves its `FROM debian:…` to the local registry. */
const context = [
  "--volume",
  `${exampleDir}:/src:ro`,
  "--volume",
  `${containerEnv().CONTAINERS_REGISTRIES_CONF}:/etc/containers/registries.conf:ro`,
];

/** `buildah build` of the example under Fargate's rules, with extra `podman run` options. */
const buildahBuild = (tag: string, options: readonly string[] = []) =>
  runUnderFargateRules([...context, ...options, buildah, "buildah", "build", "-t", tag, "/src"]);

describe("buildah (chroot isolation, vfs storage) under Fargate's rules", () => {
  it("cannot start: it re-executes itself in a user namespace, which it may not create", async () => {
    const run = await buildahBuild("refused");
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("Error during unshare(CLONE_NEWUSER): Operation not permitted");
  });

  it("told it is already in one, it gets to the first RUN step and fails to create its mount namespace", async () => {
    // buildah skips the user namespace when it believes it runs in one already (a rootless uid is set).
    const run = await buildahBuild("refused", ["--env", "_CONTAINERS_ROOTLESS_UID=1"]);
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/STEP \d\/\d: RUN chmod 755 hello.sh/);
    expect(run.output).toMatch(/creating new mount namespace for \[.*\]: operation not permitted/);
  });

  it("builds the same Dockerfile once given CAP_SYS_ADMIN, which Fargate refuses", async () => {
    const run = await buildahBuild("with-sys-admin", ["--cap-add=SYS_ADMIN"]);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/COMMIT with-sys-admin/);
  });
});

describe("BuildKit under Fargate's rules", () => {
  it("rootless (rootlesskit, --oci-worker-no-process-sandbox): rootlesskit cannot create its user namespace", async () => {
    const run = await runUnderFargateRules([
      buildkit,
      "--oci-worker-no-process-sandbox",
      "--addr",
      "unix:///tmp/buildkitd.sock",
    ]);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain(
      "[rootlesskit:parent] error: failed to start the child: fork/exec /proc/self/exe: operation not permitted",
    );
  });

  it("as root: it refuses --oci-worker-no-process-sandbox, and without it cannot mount a build's snapshot", async () => {
    const daemon = "buildkitd --addr unix:///tmp/buildkitd.sock";
    const noSandbox = await runUnderFargateRules([
      "--user",
      "0",
      "--entrypoint",
      "sh",
      buildkit,
      "-c",
      `${daemon} --oci-worker-no-process-sandbox`,
    ]);
    expect(noSandbox.code).not.toBe(0);
    expect(noSandbox.output).toContain("can't enable NoProcessSandbox without Rootless");

    const build = [
      `${daemon} >/tmp/buildkitd.log 2>&1 &`,
      "for i in $(seq 50); do buildctl --addr unix:///tmp/buildkitd.sock debug workers >/dev/null 2>&1 && break; sleep 0.2; done",
      "buildctl --addr unix:///tmp/buildkitd.sock build --frontend dockerfile.v0 --local context=/src --local dockerfile=/src",
    ].join("\n");
    const sandboxed = await runUnderFargateRules([
      ...context,
      "--user",
      "0",
      "--entrypoint",
      "sh",
      buildkit,
      "-c",
      build,
    ]);
    expect(sandboxed.code).not.toBe(0);
    expect(sandboxed.output).toMatch(/failed to mount .*err: operation not permitted/);
  });
});
