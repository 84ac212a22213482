/**
 * The job images (scripts/images/job-images.ts) in real containers, each named as a job names it in `image:`
 * (resolved through the local registry's docker.io mirror), each checked for the property it exists to exercise.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { requireContainerTools } from "../../scripts/containers/env.js";
import { ensureJobImages, JOB_IMAGES, TASK_ADDRESS_ENV } from "../../scripts/images/job-images.js";
import { run } from "../../scripts/images/podman.js";
import { waitFor } from "../manager/support.js";
import {
  type Container,
  containerName,
  IMAGE_BUILD_TIMEOUT_MS,
  loopbackAddress,
  podman,
  podmanOutput,
  podmanResult,
  runDetached,
} from "./support.js";

const started: Container[] = [];

beforeAll(async () => {
  requireContainerTools();
  await ensureJobImages();
  // Pull each by the name a job uses, through the mirror, so the runs below see what a task would pull.
  for (const name of Object.values(JOB_IMAGES)) await podman(["pull", "--quiet", name]);
}, IMAGE_BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const container of started) await container.remove();
});

/** `podman run --rm` of `args` (options, image, command); resolves with podman's exit code and all output. */
const runOnce = (args: readonly string[], network = "none") =>
  podmanResult(["run", "--rm", "--network", network, ...args]);

async function imageConfig(name: string): Promise<{ User?: string; Entrypoint?: string[]; Cmd?: string[] }> {
  const [image] = JSON.parse(await podman(["image", "inspect", name])) as {
    Config: { User?: string; Entrypoint?: string[]; Cmd?: string[] };
  }[];
  return image!.Config;
}

/** Every path in the image's filesystem (`podman export` of a created, never started container). */
async function filesOf(name: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "sgr-job-image-"));
  const id = await podman(["create", name]);
  try {
    await podman(["export", "--output", join(dir, "fs.tar"), id]);
    return (await run("tar", ["-tf", join(dir, "fs.tar")])).split("\n");
  } finally {
    await podman(["rm", "--force", id]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a service image on the host network bound to an address of its own; resolves once its port accepts. */
async function startService(
  image: string,
  port: number,
  env: Record<string, string>,
  options: readonly string[] = [],
): Promise<string> {
  const address = loopbackAddress();
  const container = await runDetached(
    containerName("service"),
    ["--network", "host", "--env", `${TASK_ADDRESS_ENV}=${address}`, ...options, image],
    env,
  );
  started.push(container);
  await waitFor(`${image} accepting on ${address}:${port}`, () => accepts(address, port), 60_000).catch(
    async (error: Error) => {
      throw new Error(`${error.message}; its log:\n${await container.logs()}`);
    },
  );
  return address;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.end();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** One request and its first reply over TCP (enough for a redis inline command). */
function exchange(host: string, port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write(request));
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no reply from ${host}:${port}`)));
    socket.once("data", (data) => {
      socket.end();
      resolve(data.toString("utf8"));
    });
    socket.once("error", reject);
  });
}

describe("job images", () => {
  it("debian: a Debian 12 root filesystem with bash and apt, running as root", async () => {
    const result = await runOnce([
      JOB_IMAGES.debian,
      "bash",
      "-c",
      "cat /etc/debian_version; id -u; command -v apt-get",
    ]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/^12\.\d+\n0\n\/usr\/bin\/apt-get\n$/);
  });

  it("busybox: sh and the applets of busybox 1.35, no bash, no package manager", async () => {
    const result = await runOnce([
      JOB_IMAGES.busybox,
      "sh",
      "-c",
      "busybox | head -1; id -u; echo x | sed s/x/applets-work/; ls /bin/bash /usr/bin/apt-get /usr/bin/dpkg 2>&1",
    ]);
    expect(result.output).toMatch(/^BusyBox v1\.35\.\d+ /);
    expect(result.output).toContain("\n0\napplets-work\n");
    expect(result.output).toMatch(/\/bin\/bash.*No such file/);
    expect(result.output).toMatch(/\/usr\/bin\/apt-get.*No such file/);
  });

  it("non-root: USER is uid 1001, and its shell runs as that uid", async () => {
    expect((await imageConfig(JOB_IMAGES.nonRoot)).User).toBe("1001");
    const result = await runOnce([
      JOB_IMAGES.nonRoot,
      "sh",
      "-c",
      "id -u; id -g; touch /etc/x 2>/dev/null || echo denied",
    ]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toBe("1001\n1001\ndenied\n");
  });

  it('entrypoint: its own ENTRYPOINT refuses a shell command; cleared (entrypoint: [""]) the command runs', async () => {
    expect((await imageConfig(JOB_IMAGES.entrypoint)).Entrypoint).toEqual(["/usr/local/bin/sgr-tool"]);
    const asIs = await runOnce([JOB_IMAGES.entrypoint, "sh", "-c", "echo from-the-shell"]);
    expect(asIs.code).toBe(64);
    expect(asIs.output).toContain("sgr-tool: unknown command 'sh'");
    expect(asIs.output).not.toContain("from-the-shell");
    const cleared = await runOnce([
      "--entrypoint",
      "",
      JOB_IMAGES.entrypoint,
      "sh",
      "-c",
      "echo from-the-shell",
    ]);
    expect(cleared.code, cleared.output).toBe(0);
    expect(cleared.output).toBe("from-the-shell\n");
  });

  it("no-shell: one static binary and nothing else; a shell command cannot start", async () => {
    const own = await runOnce([JOB_IMAGES.noShell]);
    expect(own.code, own.output).toBe(0);
    expect(own.output).toContain("sgr-hello: a static binary in an image without a shell");
    const files = (await filesOf(JOB_IMAGES.noShell)).filter((name) => !name.endsWith("/"));
    expect(files.filter((name) => /(^|\/)(sh|bash|busybox|dash)$/.test(name))).toEqual([]);
    expect(files).toContain("sgr-hello");
    const shell = await runOnce([JOB_IMAGES.noShell, "sh", "-c", "true"]);
    expect(shell.code).not.toBe(0);
    expect(shell.output).toMatch(/"sh": executable file not found/);
  });

  it("redis: answers PING on the task's address, port 6379, as the redis user", async () => {
    const address = await startService(JOB_IMAGES.redis, 6379, {});
    expect(await exchange(address, 6379, "PING\r\n")).toBe("+PONG\r\n");
    const cli = await podmanOutput([
      "run",
      "--rm",
      "--network",
      "host",
      JOB_IMAGES.redis,
      "redis-cli",
      "-h",
      address,
      "ping",
    ]);
    expect(cli.trim()).toBe("PONG");
    const container = started.at(-1)!;
    expect(await podman(["top", container.name, "user", "args"])).toMatch(/redis\s+redis-server \S+:6379/);
  });

  it("docker:dind, privileged, serves TLS on 2376 of the task's address with the certificates it made; the docker CLI image reaches it", async () => {
    const certs = mkdtempSync(join(tmpdir(), "sgr-dind-certs-"));
    onTestFinished(() => rmSync(certs, { recursive: true, force: true }));
    const address = await startService(JOB_IMAGES.dind, 2376, {}, [
      ...["--privileged", "--volume", `${certs}:/certs/client`],
    ]);
    // Its /var/lib/docker is an anonymous volume: removed with the container here.
    const name = started.at(-1)!.name;
    onTestFinished(() => podman(["rm", "--force", "--volumes", "--time", "0", name]).then(() => undefined));
    const version = await podmanOutput([
      ...["run", "--rm", "--network", "host", "--volume", `${certs}:/certs/client:ro`],
      ...["--env", `DOCKER_HOST=tcp://${address}:2376`, "--env", "DOCKER_TLS_VERIFY=1"],
      ...["--env", "DOCKER_CERT_PATH=/certs/client", JOB_IMAGES.docker],
      ...["docker", "version", "--format", "client {{.Client.Version}}, server {{.Server.Version}}"],
    ]);
    expect(version.trim()).toMatch(/^client 20\.10\.24\S*, server 20\.10\.24\S*$/);
  });

  it("postgres: with POSTGRES_PASSWORD and POSTGRES_DB, psql logs in over TCP on the task's address; a wrong password does not", async () => {
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    const address = await startService(JOB_IMAGES.postgres, 5432, {
      POSTGRES_PASSWORD: password,
      POSTGRES_DB: "app",
    });
    const psql = (secret: string) =>
      runOnce(
        [
          "--env",
          `PGPASSWORD=${secret}`,
          JOB_IMAGES.postgres,
          "psql",
          "-h",
          address,
          "-U",
          "postgres",
          "-d",
          "app",
          "-tAc",
          "select current_database(), current_user",
        ],
        "host",
      );
    // The port accepts while the server may still be starting: ask until it answers.
    const ok = await waitFor(
      "postgres answering a query",
      async () => {
        const result = await psql(password);
        return result.code === 0 ? result : undefined;
      },
      30_000,
    );
    expect(ok.output.trim()).toBe("app|postgres");
    const wrong = await psql("not-the-password");
    expect(wrong.code).not.toBe(0);
    expect(wrong.output).toContain('password authentication failed for user "postgres"');
  });

  it("postgres: without POSTGRES_PASSWORD it refuses to initialise, saying why", async () => {
    const result = await runOnce([JOB_IMAGES.postgres]);
    expect(result.code).toBe(1);
    expect(result.output).toContain("superuser password is not specified");
  });
});
