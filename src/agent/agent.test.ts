/**
 * The agent binary (Go, src/agent) against the driver's own side of the channel (src/driver/channel): TLS with an
 * ephemeral certificate, the secret-bound proofs and their rotation, every step target, output framing, stops,
 * exit codes, port waits, and the build loop it hands build steps to. Built once per run (cached by content).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, connect as netConnect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  BUILD_LOOP_SCRIPT,
  HOSTS_WARNING_PREFIX,
  STEPS_DIR,
  TASK_ADDRESS_ENV,
} from "../driver/backends/build-loop.js";
import { AgentChannel, connectAgent } from "../driver/channel/agent-channel.js";
import type { StepTarget } from "../driver/channel/protocol.js";

const root = join(import.meta.dirname, "..", "..");
let agentBinary: string;

beforeAll(() => {
  const arch = { x64: "amd64", arm64: "arm64" }[process.arch as string] ?? process.arch;
  const out = execFileSync(process.execPath, [join(root, "scripts/build-agent.mjs"), arch], {
    encoding: "utf8",
  });
  agentBinary = out.trim().split("\n").at(-1) as string;
}, 300_000);

interface RunningAgent {
  port: number;
  secret: string;
  shared: string;
  child: ChildProcess;
  logs(): string;
  exited: Promise<number | null>;
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startAgent(env: Record<string, string> = {}): Promise<RunningAgent> {
  const shared = tempDir("sgr-agent-shared-");
  const portFile = join(shared, "..", `${shared.split("/").at(-1)}.port`);
  cleanups.push(() => rmSync(portFile, { force: true }));
  const secret = randomBytes(32).toString("hex");
  let logs = "";
  const child = spawn(agentBinary, [], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: "/usr/bin:/bin",
      SGR_AGENT_SECRET: secret,
      SGR_AGENT_HOST: "127.0.0.1",
      SGR_AGENT_PORT: "0",
      SGR_AGENT_PORT_FILE: portFile,
      SGR_SHARED: shared,
      ...env,
    },
  });
  child.stdout?.on("data", (c: Buffer) => {
    logs += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    logs += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  cleanups.push(() => {
    child.kill("SIGKILL");
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(portFile) || !/^\d+\n$/.test(readFileSync(portFile, "utf8"))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the agent did not start: ${logs}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const port = Number(readFileSync(portFile, "utf8").trim());
  return { port, secret, shared, child, logs: () => logs, exited };
}

function startBuildLoop(shared: string, env: Record<string, string> = {}): ChildProcess {
  const loop = spawn("/bin/sh", ["-c", BUILD_LOOP_SCRIPT], {
    env: { PATH: "/usr/bin:/bin", SGR_SHARED: shared, ...env },
  });
  cleanups.push(() => {
    loop.kill("SIGKILL");
  });
  return loop;
}

async function openChannel(agent: RunningAgent): Promise<AgentChannel> {
  const channel = await AgentChannel.open({
    endpoint: { host: "127.0.0.1", port: agent.port },
    secret: agent.secret,
  });
  cleanups.push(() => channel.close());
  return channel;
}

/** Runs a step to its end: exit code and the whole output. */
async function run(
  channel: AgentChannel,
  stepId: string,
  target: StepTarget,
  script: string,
  onChunk?: (text: string) => void,
): Promise<{ code: number; output: string }> {
  const chunks: Buffer[] = [];
  const step = channel.runStep(stepId, target, script, (data) => {
    for (const piece of data) {
      chunks.push(Buffer.from(piece));
      onChunk?.(piece.toString());
    }
    return undefined;
  });
  const code = await step.done;
  return { code, output: Buffer.concat(chunks).toString("utf8") };
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("agent: the channel", () => {
  it("proves the secret both ways over TLS, rotates it, and refuses the old secret and strangers", async () => {
    const agent = await startAgent();
    // A plain TCP probe (a health check) that never speaks TLS leaves the agent serving.
    await new Promise<void>((resolve) => {
      const probe = netConnect({ host: "127.0.0.1", port: agent.port }, () =>
        probe.end("GET / HTTP/1.0\r\n\r\n"),
      );
      probe.on("close", () => resolve());
      probe.on("error", () => resolve());
    });
    const channel = await openChannel(agent);
    expect(channel.currentSecret).not.toBe(agent.secret);
    expect(channel.currentSecret).toMatch(/^[0-9a-f]{64}$/);
    await expect(connectAgent({ host: "127.0.0.1", port: agent.port }, agent.secret, 3000)).rejects.toThrow();
    await expect(
      connectAgent({ host: "127.0.0.1", port: agent.port }, randomBytes(32).toString("hex"), 3000),
    ).rejects.toThrow();
    const again = await connectAgent({ host: "127.0.0.1", port: agent.port }, channel.currentSecret, 3000);
    again.socket.destroy();
    expect(agent.logs()).toContain("refused a connection that did not prove the job secret");
    expect(agent.logs()).toContain("driver authenticated");
    expect(agent.logs()).not.toContain(agent.secret);
  });

  it("a task started ahead of its job: exits 0 when no driver connects by the deadline, serves on when adopted", async () => {
    const unadopted = await startAgent({ SGR_ADOPT_DEADLINE_SECONDS: "0.5" });
    expect(await unadopted.exited).toBe(0);
    expect(unadopted.logs()).toContain("speculative job task not adopted");

    const adopted = await startAgent({ SGR_ADOPT_DEADLINE_SECONDS: "0.5" });
    const channel = await openChannel(adopted);
    await new Promise((r) => setTimeout(r, 1000));
    expect(adopted.child.exitCode).toBeNull();
    expect((await run(channel, "1-adopted", "helper", "echo still here")).output).toContain("still here");
  });

  it("refuses a deadline that is not a positive number, naming the variable", async () => {
    await expect(startAgent({ SGR_ADOPT_DEADLINE_SECONDS: "soon" })).rejects.toThrow(
      /SGR_ADOPT_DEADLINE_SECONDS/,
    );
  });

  it("keeps the secret out of the steps' environment and answers port waits", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    const env = await run(channel, "1-env", "helper", "env");
    expect(env.code).toBe(0);
    expect(env.output).toContain("SGR_SHARED=");
    expect(env.output).not.toContain("SGR_AGENT_SECRET");

    const server: Server = createServer((socket) => socket.end()).listen(0, "127.0.0.1");
    cleanups.push(() => void server.close());
    await new Promise((r) => server.once("listening", r));
    const open = (server.address() as { port: number }).port;
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const port = (probe.address() as { port: number }).port;
        probe.close(() => resolve(port));
      });
    });
    expect(await channel.waitPorts([open, closed], 400)).toEqual({ ready: [open], notReady: [closed] });
    expect(await channel.waitPorts([], 100)).toEqual({ ready: [], notReady: [] });
  });

  it("streams large output exactly, and resumes after a dropped connection without loss, duplicates or a rerun", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    const big = await run(channel, "1-big", "helper", "head -c 3000000 /dev/zero | tr '\\0' x");
    expect(big.code).toBe(0);
    expect(big.output.length).toBe(3_000_000);
    expect(/^x+$/.test(big.output)).toBe(true);

    let dropped = false;
    const resumed = await run(
      channel,
      "2-resume",
      "helper",
      `echo once >> ${agent.shared}/counter; echo before; sleep 1; echo after`,
      (text) => {
        if (!dropped && text.includes("before")) {
          dropped = true;
          (channel as unknown as { socket: { destroy(): void } }).socket.destroy();
        }
      },
    );
    expect(dropped).toBe(true);
    expect(resumed).toEqual({ code: 0, output: "before\nafter\n" });
    expect(readFileSync(join(agent.shared, "counter"), "utf8")).toBe("once\n");
  });

  it("reports a refused step as a failure of the step, not of the agent", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    await expect(run(channel, "bad id!", "helper", "true")).rejects.toThrow(/invalid step id "bad id!"/);
    expect((await run(channel, "1-after", "helper", "echo fine")).output).toBe("fine\n");
  });
});

describe("agent: service readiness", () => {
  it("probes the task's address, not localhost, where the task has an address of its own", async () => {
    const service = createServer((socket) => socket.end()).listen(0, "127.0.0.9");
    cleanups.push(() => void service.close());
    await new Promise((r) => service.once("listening", r));
    const { port } = service.address() as { port: number };
    const own = await startAgent({ [TASK_ADDRESS_ENV]: "127.0.0.9" });
    expect(await (await openChannel(own)).waitPorts([port], 5_000)).toEqual({ ready: [port], notReady: [] });
    // Another task's service on the same port is not this task's.
    const other = await startAgent();
    expect(await (await openChannel(other)).waitPorts([port], 300)).toEqual({ ready: [], notReady: [port] });
  });
});

describe("agent: helper steps", () => {
  it("reports exit codes, and 128 + the signal for a script killed by one", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    expect(await run(channel, "1-ok", "helper", "echo out; echo err >&2; exit 4")).toEqual({
      code: 4,
      output: "out\nerr\n",
    });
    expect((await run(channel, "2-killed", "helper", "kill -9 $$")).code).toBe(137);
  });

  it("stops a helper step and everything it started within the grace period", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    const step = channel.runStep("1-long", "helper", "sleep 30 & sleep 30; wait", () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    step.stop();
    expect(await step.done).toBe(143);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("opens the builds volume to every user and runs helper steps with umask 0000, for non-root job images", async () => {
    const builds = tempDir("sgr-builds-");
    chmodSync(builds, 0o755);
    const agent = await startAgent({ SGR_WRITABLE_DIRS: builds });
    expect(statSync(builds).mode & 0o777).toBe(0o777);
    expect(statSync(join(agent.shared, STEPS_DIR)).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(agent.shared, "ctl")).isFIFO()).toBe(true);
    expect(statSync(join(agent.shared, "ctl")).mode & 0o777).toBe(0o666);
    const channel = await openChannel(agent);
    const step = await run(
      channel,
      "1-get_sources",
      "helper",
      `mkdir ${builds}/project && echo x > ${builds}/project/file`,
    );
    expect(step.code).toBe(0);
    expect(statSync(join(builds, "project")).mode & 0o777).toBe(0o777);
    expect(statSync(join(builds, "project", "file")).mode & 0o777).toBe(0o666);
  });
});

describe("agent: build steps through the build loop", () => {
  it("runs build steps with only a POSIX shell, stops one on request, and deletes a released step's files", async () => {
    const agent = await startAgent();
    startBuildLoop(agent.shared);
    const channel = await openChannel(agent);
    expect(await run(channel, "1-build_script", "build", "echo out; echo err >&2; exit 3")).toEqual({
      code: 3,
      output: "out\nerr\n",
    });
    const long = channel.runStep("2-build_script", "build", "sleep 30", () => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    long.stop();
    expect(await long.done).toBe(143); // 128 + SIGTERM
    expect(performance.now() - started).toBeLessThan(2000);
    // The driver releases each step once it has the result: its script (which holds job secrets) goes.
    await eventually(
      () => readdirSync(join(agent.shared, STEPS_DIR)).length === 0,
      "the released steps' files to be deleted",
    );
  });

  it("waits for a build loop that is not reading the FIFO yet (it starts after the helper)", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    const late = setTimeout(() => startBuildLoop(agent.shared), 300);
    cleanups.push(() => clearTimeout(late));
    expect(await run(channel, "1-build_script", "build", "echo late")).toEqual({ code: 0, output: "late\n" });
  });

  it("adds service aliases to the hosts file, or warns once in the job log when the image's user cannot", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    const hostsFile = join(agent.shared, "hosts");
    writeFileSync(hostsFile, "");
    const aliases = { SGR_SERVICE_ALIASES: "db cache" };
    const loop = startBuildLoop(agent.shared, { ...aliases, SGR_HOSTS_FILE: hostsFile });
    expect((await run(channel, "1-build_script", "build", "echo ran")).output).toBe("ran\n");
    expect(readFileSync(hostsFile, "utf8")).toBe("127.0.0.1 db cache\n");
    loop.kill("SIGKILL");
    await new Promise((r) => loop.once("exit", r));
    // A task on an address of its own (tasks sharing a host's network): the aliases name that address.
    writeFileSync(hostsFile, "");
    const own = startBuildLoop(agent.shared, {
      ...aliases,
      SGR_HOSTS_FILE: hostsFile,
      [TASK_ADDRESS_ENV]: "127.0.0.9",
    });
    expect((await run(channel, "4-build_script", "build", "echo ran")).output).toBe("ran\n");
    expect(readFileSync(hostsFile, "utf8")).toBe("127.0.0.9 db cache\n");
    own.kill("SIGKILL");
    await new Promise((r) => own.once("exit", r));
    startBuildLoop(agent.shared, { ...aliases, SGR_HOSTS_FILE: join(agent.shared, "missing-dir", "hosts") });
    const first = await run(channel, "2-build_script", "build", "echo ran");
    expect(first.output).toMatch(
      new RegExp(
        `^${HOSTS_WARNING_PREFIX} .*hosts is not writable by this image's user; service aliases \\(db cache\\) do not resolve\\. Reach services at 127\\.0\\.0\\.1, .*\nran\n$`,
      ),
    );
    expect((await run(channel, "3-after_script", "build", "echo ran")).output).toBe("ran\n");
  });
});

describe("agent: stopping", () => {
  it("on SIGTERM keeps serving until the driver has every step's result, then exits 0", async () => {
    const agent = await startAgent();
    const channel = await openChannel(agent);
    const step = channel.runStep("1-finishing", "helper", "sleep 0.5; echo finished", () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    agent.child.kill("SIGTERM");
    expect(await step.done).toBe(0);
    expect(await agent.exited).toBe(0);
    expect(agent.logs()).toContain("no step left to serve: exiting");
  });
});
