/**
 * The helper image in a real container, laid out as the driver registers a job task's helper container (its
 * environment, port and volumes): the agent answers the driver's channel over TLS on that port and runs what the
 * runner's helper stages need — git, git lfs and the runner's artifact and cache commands — as the image's user.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentChannel } from "../../src/driver/channel/agent-channel.js";
import { waitFor } from "../manager/support.js";
import {
  builtImages,
  type Container,
  containerName,
  IMAGE_BUILD_TIMEOUT_MS,
  loopbackAddress,
  runDetached,
} from "./support.js";
import { helperContainerDefinition, readOnlyOptions } from "./task-definitions.js";

let image: string;
let container: Container | undefined;
const volumes = mkdtempSync(join(tmpdir(), "sgr-helper-volumes-"));

beforeAll(async () => {
  ({ helper: image } = await builtImages());
}, IMAGE_BUILD_TIMEOUT_MS);

afterAll(async () => {
  await container?.remove();
  rmSync(volumes, { recursive: true, force: true });
});

/** Runs a script in the helper container through the agent; resolves with its exit code and output. */
async function step(channel: AgentChannel, script: string): Promise<{ code: number; output: string }> {
  const chunks: Buffer[] = [];
  const running = channel.runStep(`step-${randomBytes(3).toString("hex")}`, "helper", script, (data) => {
    for (const piece of data) chunks.push(Buffer.from(piece));
    return undefined;
  });
  const code = await running.done;
  return { code, output: Buffer.concat(chunks).toString("utf8") };
}

describe("helper image", () => {
  it("answers the driver over TLS on its port and runs git, git lfs and the runner's helper commands", async () => {
    const definition = helperContainerDefinition(image);
    const port = definition.portMappings?.[0]?.containerPort;
    expect(port).toBeDefined();
    const host = loopbackAddress();
    const secret = randomBytes(32).toString("hex");
    const mounts = (definition.mountPoints ?? []).flatMap((m) => {
      const dir = mkdtempSync(join(volumes, `${m.sourceVolume}-`));
      return ["--volume", `${dir}:${m.containerPath}`];
    });
    const environment = (definition.environment ?? []).flatMap((e) => ["--env", `${e.name}=${e.value}`]);
    container = await runDetached(
      containerName("helper"),
      [
        "--network",
        "host",
        ...readOnlyOptions(definition.readonlyRootFilesystem),
        ...mounts,
        ...environment,
        // The task's private address; here a loopback address of its own (never a wildcard on the host network).
        "--env",
        `SGR_AGENT_HOST=${host}`,
        ...(definition.user ? ["--user", definition.user] : []),
        image,
      ],
      { SGR_AGENT_SECRET: secret },
    );
    await waitFor("the agent listening", async () => (await container!.logs()).includes("listening on port"));
    const channel = await AgentChannel.open({ endpoint: { host, port: port! }, secret });
    try {
      const git = await step(channel, "git --version && git lfs version");
      expect(git.code, git.output).toBe(0);
      expect(git.output).toMatch(/^git version \d/m);
      expect(git.output).toMatch(/^git-lfs\/\d/m);

      const runner = await step(
        channel,
        "gitlab-runner --version && gitlab-runner artifacts-uploader --help && gitlab-runner cache-archiver --help",
      );
      expect(runner.code, runner.output).toBe(0);
      expect(runner.output).toContain("Version:      19.4.0");
      expect(runner.output).toMatch(/artifacts-uploader - create and upload build artifacts/);
      expect(runner.output).toMatch(/cache-archiver - create and upload cache artifacts/);

      // The image declares no USER: the agent and its steps run as root, like GitLab's helper image.
      const user = await step(channel, "id -u && touch /builds/probe /sgr/probe && echo volumes-writable");
      expect(user.output).toBe("0\nvolumes-writable\n");
    } finally {
      channel.close();
    }
    expect(await container.logs()).not.toContain(secret);
  }, 120_000);
});
