/**
 * What the task definitions name exists in the images they name: the manager container of the synthesized
 * template and the job task's helper container (src/driver task-definition layout) are checked against the built
 * images — users, paths (entrypoints, executables the rendered config.toml and the driver call, working
 * directories, mount points) and the agent's port.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { AGENT_CHANNEL_PORT } from "../../src/config/ports.js";
import {
  AGENT_EXECUTABLE,
  DEFAULT_RUNNER_HOME,
  DRIVER_EXECUTABLE,
  MANAGER_BUNDLE,
} from "../../src/manager/paths.js";
import { builtImages, IMAGE_BUILD_TIMEOUT_MS, inImage, podman } from "./support.js";
import { helperContainerDefinition, managerContainerDefinition } from "./task-definitions.js";

let images: { manager: string; helper: string };

beforeAll(async () => {
  images = await builtImages();
}, IMAGE_BUILD_TIMEOUT_MS);

interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  WorkingDir?: string;
  StopSignal?: string;
}

async function imageConfig(image: string): Promise<ImageConfig> {
  const [inspected] = JSON.parse(await podman(["image", "inspect", image])) as Array<{ Config: ImageConfig }>;
  return inspected!.Config;
}

/** `stat` of each path inside the image, as the given user: `<uid> <mode> <type>` lines. */
async function statAll(image: string, paths: string[], user?: string): Promise<string[]> {
  const out = await inImage(
    image,
    ["stat", "-L", "-c", "%u %a %F %n", ...paths],
    user ? ["--user", user] : [],
  );
  return out.split("\n");
}

describe("task definitions and images agree", () => {
  it("keep nothing of the build machine (its CA and npmrc are mounted over /usr/local/etc for the build only)", async () => {
    for (const image of [images.manager, images.helper]) {
      expect(await inImage(image, ["ls", "-A", "/usr/local/etc"]), image).toBe("");
    }
  });

  it("manager: the user, entrypoint, executables and home exist; the image stops on SIGTERM", async () => {
    const definition = managerContainerDefinition();
    const config = await imageConfig(images.manager);
    // The definition sets no user, entrypoint or working directory: the image's own must hold.
    const user = definition.User ?? config.User;
    expect(user).toBe("10001");
    expect(await inImage(images.manager, ["id", "-u"], ["--user", user!])).toBe("10001");
    expect(await inImage(images.manager, ["getent", "passwd", user!])).toMatch(/^sgr:x:10001:/);

    const entrypoint = definition.EntryPoint ?? config.Entrypoint ?? [];
    expect(entrypoint).toContain(MANAGER_BUNDLE);
    const executables = [entrypoint[0]!, "/usr/bin/gitlab-runner", "/usr/local/bin/node", DRIVER_EXECUTABLE];
    const stats = await statAll(images.manager, [...executables, MANAGER_BUNDLE, DEFAULT_RUNNER_HOME]);
    for (const [i, path] of executables.entries()) expect(stats[i], path).toMatch(/^0 7\d\d regular file /);
    expect(stats.at(-1)).toBe(`10001 700 directory ${DEFAULT_RUNNER_HOME}`);
    expect(definition.WorkingDirectory ?? config.WorkingDir).toBe(DEFAULT_RUNNER_HOME);
    // The driver executable runs as the manager's user (gitlab-runner execs it for every stage).
    expect(await inImage(images.manager, ["test", "-x", DRIVER_EXECUTABLE], ["--user", user!])).toBe("");
    expect(config.StopSignal).toBe("SIGTERM");
    // Nothing in the manager listens: the definition maps no port and mounts no volume.
    expect(definition.PortMappings ?? []).toEqual([]);
    expect(definition.MountPoints ?? []).toEqual([]);
    expect((definition.Secrets ?? []).map((s) => s.Name)).toEqual(["RUNNER_TOKEN"]);
  });

  it("helper: the agent entrypoint, its port and the mounted paths", async () => {
    const definition = helperContainerDefinition(images.helper);
    const config = await imageConfig(images.helper);
    expect(definition.entryPoint ?? config.Entrypoint).toEqual([AGENT_EXECUTABLE]);
    expect(definition.user ?? config.User ?? "").toBe("");
    const stats = await statAll(images.helper, [AGENT_EXECUTABLE, "/usr/local/bin/gitlab-runner"]);
    expect(stats[0]).toMatch(/^0 7\d\d regular file /);
    expect(stats[1]).toMatch(/^0 7\d\d regular file /);
    // The agent is a static binary: the helper carries no runtime of its own (no Node).
    expect(await inImage(images.helper, ["sh", "-c", "command -v node || echo none"])).toBe("none");
    // The port the task definition maps (and the security group opens) is the one the agent is told to use.
    expect(definition.portMappings?.map((p) => p.containerPort)).toEqual([AGENT_CHANNEL_PORT]);
    expect(definition.environment).toContainEqual({
      name: "SGR_AGENT_PORT",
      value: String(AGENT_CHANNEL_PORT),
    });
    // Mount points: ECS creates them on an empty volume; the image must not hide a file there.
    for (const mount of definition.mountPoints ?? []) {
      const existing = await inImage(images.helper, [
        "sh",
        "-c",
        `test ! -e ${mount.containerPath} || stat -c %F ${mount.containerPath}`,
      ]);
      expect(["", "directory"], mount.containerPath!).toContain(existing);
    }
  });
});
