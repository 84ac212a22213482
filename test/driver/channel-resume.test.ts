/**
 * The channel survives dropped connections: a proxy between daemon and agent cuts every connection after a
 * random amount of traffic, and the step's output must still arrive complete, byte for byte, exactly once.
 * Also: a wrong secret gets nothing, and a step keeps running while no one is connected.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AgentChannel } from "../../src/driver/channel/agent-channel.js";
import { type DriverBuild, ensureDriverBuilt } from "./support/build.js";

const secret = "0123456789abcdef".repeat(4);
const agents: ChildProcess[] = [];
let agentPort: number;
let shared: string;
let build: DriverBuild;

/** A fresh agent per test: the channel rotates the agent's secret on first use. */
async function startAgent(): Promise<number> {
  const dir = mkdtempSync(join(shared, "agent-"));
  const portFile = join(dir, "port");
  agents.push(
    spawn(build.agent, [], {
      env: {
        PATH: process.env.PATH,
        SGR_AGENT_SECRET: secret,
        SGR_AGENT_PORT: "0",
        SGR_AGENT_HOST: "127.0.0.1",
        SGR_AGENT_PORT_FILE: portFile,
        SGR_SHARED: dir,
      },
      stdio: "ignore",
    }),
  );
  for (let i = 0; i < 1000; i++) {
    try {
      const port = Number(readFileSync(portFile, "utf8").trim());
      if (port > 0) return port;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the agent did not start");
}

beforeAll(() => {
  build = ensureDriverBuilt();
  shared = mkdtempSync(join(tmpdir(), "sgr-channel-test-"));
});

beforeEach(async () => {
  agentPort = await startAgent();
});

afterAll(() => {
  for (const agent of agents) agent.kill("SIGKILL");
  if (shared) rmSync(shared, { recursive: true, force: true });
});

/** A TCP proxy that destroys each connection once it has forwarded a random number of bytes (both ways). */
function droppingProxy(
  target: number,
  maxBytesPerConnection: number,
): Promise<{ server: Server; port: number; drops: () => number; cutAll: () => void }> {
  let drops = 0;
  const open = new Set<Socket>();
  const server = createServer((client: Socket) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    const upstream = tcpConnect({ host: "127.0.0.1", port: target });
    const budget = 2000 + Math.floor(Math.random() * maxBytesPerConnection);
    let forwarded = 0;
    const cut = () => {
      if (client.destroyed) return;
      drops++;
      client.destroy();
      upstream.destroy();
    };
    const pipe = (from: Socket, to: Socket) =>
      from.on("data", (chunk: Buffer) => {
        forwarded += chunk.length;
        if (forwarded > budget) {
          // Forward part of the chunk, then cut mid-stream.
          to.write(chunk.subarray(0, Math.max(0, chunk.length - (forwarded - budget))));
          cut();
          return;
        }
        to.write(chunk);
      });
    pipe(client, upstream);
    pipe(upstream, client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({
        server,
        port: typeof address === "object" && address ? address.port : 0,
        drops: () => drops,
        cutAll: () => {
          for (const socket of open) socket.destroy();
        },
      });
    }),
  );
}

/** Deterministic output: numbered lines, ~4 MB, written in bursts with pauses (so reconnects land mid-step). */
const producer = [
  "i=0",
  "while [ $i -lt 40 ]; do",
  '  seq -f "line $i-%06g abcdefghijklmnopqrstuvwxyz" 1 5000',
  "  i=$((i+1))",
  "  [ $((i % 10)) -eq 0 ] && sleep 0.2",
  "done",
].join("\n");

function expectedOutput(): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    for (let n = 1; n <= 5000; n++)
      lines.push(`line ${i}-${String(n).padStart(6, "0")} abcdefghijklmnopqrstuvwxyz\n`);
  }
  return Buffer.from(lines.join(""));
}

const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("agent channel", () => {
  it("delivers every output byte exactly once across dropped connections", async () => {
    const proxy = await droppingProxy(agentPort, 400_000);
    const channel = await AgentChannel.open({ endpoint: { host: "127.0.0.1", port: proxy.port }, secret });
    const received: Buffer[] = [];
    const step = channel.runStep("resume-1", "helper", producer, (data) => {
      for (const piece of data) received.push(Buffer.from(piece));
      return undefined;
    });
    const code = await step.done;
    channel.close();
    proxy.server.close();
    const output = Buffer.concat(received);
    const expected = expectedOutput();
    console.log(`channel: ${output.length} bytes through ${proxy.drops()} dropped connections`);
    expect(code).toBe(0);
    expect(proxy.drops()).toBeGreaterThan(3);
    expect(output.length).toBe(expected.length);
    expect(sha(output)).toBe(sha(expected));
  });

  it("fails the step as a system failure when the task is gone and the channel cannot resume", async () => {
    const proxy = await droppingProxy(agentPort, 1_000_000_000);
    const channel = await AgentChannel.open({
      endpoint: { host: "127.0.0.1", port: proxy.port },
      secret,
      taskStoppedReason: async () => "Task stopped by the janitor",
    });
    const step = channel.runStep("gone-1", "helper", "sleep 5", () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    // No new connections, and the current one cut: the channel asks whether the task is gone, and fails the step.
    proxy.server.close();
    proxy.cutAll();
    await expect(step.done).rejects.toThrow(/the job task stopped: Task stopped by the janitor/);
    channel.close();
  });

  it("rotates the secret on first use, so the one from the task's environment no longer gets in", async () => {
    const channel = await AgentChannel.open({ endpoint: { host: "127.0.0.1", port: agentPort }, secret });
    expect(channel.currentSecret).not.toBe(secret);
    await expect(
      AgentChannel.open({ endpoint: { host: "127.0.0.1", port: agentPort }, secret, connectTimeoutMs: 3000 }),
    ).rejects.toThrow(/closed the connection|did not prove/);
    const again = await AgentChannel.open({
      endpoint: { host: "127.0.0.1", port: agentPort },
      secret: channel.currentSecret,
      rotateSecret: false,
    });
    const out: Buffer[] = [];
    expect(
      await again.runStep("after-rotation", "helper", "echo still here", (d) => void out.push(...d)).done,
    ).toBe(0);
    expect(Buffer.concat(out).toString()).toBe("still here\n");
    again.close();
    channel.close();
  });

  it("refuses a driver that does not know the job secret", async () => {
    await expect(
      AgentChannel.open({
        endpoint: { host: "127.0.0.1", port: agentPort },
        secret: "f".repeat(64),
        connectTimeoutMs: 3000,
      }),
    ).rejects.toThrow(/closed the connection|did not prove/);
  });
});
