/**
 * kaniko builds and pushes an image under Fargate's rules: the CI template's own script, in the kaniko image, with
 * Docker's default capabilities and seccomp profile, builds examples/image-build/Dockerfile (two stages, a RUN step
 * in each, COPY --from) and pushes it to the local registry; then the pushed image runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { podman } from "../../scripts/images/podman.js";
import {
  BUILDER_IMAGE_TIMEOUT_MS,
  builderImages,
  destination,
  exampleDir,
  LOCAL_REGISTRY_FLAGS,
  runUnderFargateRules,
  templateScript,
} from "./support.js";

let kaniko: string;

beforeAll(async () => {
  [kaniko] = (await builderImages(["kaniko"])) as [string];
}, BUILDER_IMAGE_TIMEOUT_MS);

describe("kaniko under Fargate's capabilities and seccomp profile", () => {
  it("builds the example's multi-stage Dockerfile with RUN steps, pushes it, and the pushed image runs", async () => {
    const image = destination("hello-kaniko");
    const build = await runUnderFargateRules([
      "--volume",
      `${exampleDir}:/builds/project:ro`,
      "--env",
      "CI_PROJECT_DIR=/builds/project",
      "--env",
      `IMAGE_DESTINATION=${image}`,
      "--env",
      "IMAGE_CONTEXT=/builds/project",
      "--env",
      "IMAGE_DOCKERFILE=Dockerfile",
      "--env",
      `IMAGE_BUILD_FLAGS=${LOCAL_REGISTRY_FLAGS}`,
      "--entrypoint",
      "/busybox/sh",
      kaniko,
      "-c",
      [
        "grep -E '^(CapEff|Seccomp):' /proc/self/status",
        templateScript(),
        // What a job runs after the build (more script lines, after_script) still has its shell.
        "/busybox/ls /busybox/sh && echo 'the shell survived the build'",
      ].join("\n"),
    ]);
    expect(build.code, build.output).toBe(0);
    // Exactly Docker's default capabilities (no SYS_ADMIN), and a seccomp filter.
    expect(build.output).toMatch(/CapEff:\s+00000000a80425fb/);
    expect(build.output).toMatch(/Seccomp:\s+2/);
    expect(build.output).toContain("the shell survived the build");

    const ran = await podman(["run", "--rm", "--pull=always", "--network", "none", image]);
    await podman(["rmi", image]).catch(() => undefined);
    expect(ran).toBe("hello as uid 10001, built on x86_64 by a RUN step");
  });

  it("the template logs in to the project's registry with the job's token, and to ECR with the task role", async () => {
    // The executor replaced by a script that prints what it was given, beside the config the template wrote.
    const dir = mkdtempSync(join(tmpdir(), "sgr-kaniko-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const fake = join(dir, "executor");
    writeFileSync(fake, '#!/busybox/sh\necho "executor $*"\ncat /kaniko/.docker/config.json\n', {
      mode: 0o755,
    });
    const script = `${templateScript()}\ncommand -v docker-credential-ecr-login`;
    const loginFor = async (destination: string) => {
      const run = await runUnderFargateRules([
        ...["--volume", `${fake}:/kaniko/executor:ro`, "--entrypoint", "/busybox/sh"],
        ...["--env", "CI_REGISTRY=gitlab.example.test:5050", "--env", "CI_REGISTRY_USER=gitlab-ci-token"],
        ...["--env", "CI_REGISTRY_PASSWORD=job-token", "--env", `IMAGE_DESTINATION=${destination}`],
        ...["--env", "IMAGE_CONTEXT=/builds/project", "--env", "IMAGE_DOCKERFILE=Dockerfile"],
        ...["--env", "IMAGE_BUILD_FLAGS=--cache=true", kaniko, "-c", script],
      ]);
      expect(run.code, run.output).toBe(0);
      return run.output;
    };
    const gitlab = await loginFor("gitlab.example.test:5050/group/app:1");
    expect(gitlab).toContain(
      "executor --context /builds/project --dockerfile Dockerfile --destination gitlab.example.test:5050/group/app:1 --ignore-path=/busybox --cache=true",
    );
    const auth = Buffer.from("gitlab-ci-token:job-token").toString("base64");
    expect(gitlab).toContain(`{"auths":{"gitlab.example.test:5050":{"auth":"${auth}"}}}`);

    const ecr = await loginFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1");
    expect(ecr).toContain('{"credHelpers":{"123456789012.dkr.ecr.eu-west-1.amazonaws.com":"ecr-login"}}');
    expect(ecr).toContain("/kaniko/docker-credential-ecr-login");
  });
});
