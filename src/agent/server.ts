/**
 * The agent's TLS server: authenticates the driver (see protocol.ts), starts steps, streams their output from any
 * offset and reports exit codes. One connection per job normally; a reconnect simply attaches again, and a newer
 * attach of a step supersedes a stream still running on a dead connection.
 */

import { open } from "node:fs/promises";
import { createServer as createTcpServer, connect as netConnect, type Server } from "node:net";
import { TLSSocket } from "node:tls";
import { DEFAULT_TASK_ADDRESS } from "./build-loop.js";
import { encodeJsonFrame, FrameDecoder } from "./frames.js";
import {
  type AgentMessage,
  allocOutputFrame,
  channelProof,
  type DriverMessage,
  FrameType,
  type OutputFrame,
  proofMatches,
  SECRET_PATTERN,
} from "./protocol.js";
import { createSelfSignedCertificate } from "./self-signed.js";
import type { StepRunner } from "./steps.js";

const READ_CHUNK = 256 * 1024;
const MAX_IN_FLIGHT = 4 * 1024 * 1024;
const COALESCE_BELOW = 64 * 1024;
const COALESCE_MS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const HELLO_TIMEOUT_MS = 10_000;

export interface AgentServerOptions {
  secret: string;
  host: string;
  port: number;
  steps: StepRunner;
  log: (message: string) => void;
  /** Where the task's services listen (TASK_ADDRESS_ENV in build-loop.ts; default 127.0.0.1). */
  servicesHost?: string;
  /** Called each time a driver proves the job secret. */
  onAuthenticated?: () => void;
}

export interface AgentServer {
  port: number;
  close(): Promise<void>;
}

/** The proof a driver's Hello frame carries, or undefined when the frame is not JSON. */
function helloProof(payload: Buffer): unknown {
  try {
    return (JSON.parse(payload.toString("utf8")) as { proof?: unknown }).proof;
  } catch {
    return undefined;
  }
}

/** A driver's control message, or undefined when the frame is not JSON (it is ignored). */
function driverMessage(payload: Buffer): DriverMessage | undefined {
  try {
    return JSON.parse(payload.toString("utf8")) as DriverMessage;
  } catch {
    return undefined;
  }
}

/** Resolves when the socket has room again (drain) or is gone (close). */
function drainedOrClosed(socket: TLSSocket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}

export async function startAgentServer(options: AgentServerOptions): Promise<AgentServer> {
  const { cert, key } = createSelfSignedCertificate();
  /** Latest attach generation per step: an older stream stops when a newer attach arrives. */
  const generations = new Map<string, number>();
  const sockets = new Set<TLSSocket>();
  /** Current job secret: the one from the task's environment until the driver rotates it. */
  let secret = options.secret;

  // A plain TCP server wrapped per connection, so a non-TLS probe (health check) cannot crash anything.
  const server: Server = createTcpServer((raw) => {
    raw.on("error", () => {});
    // One line per connection (normally one per job): when the driver says "no answer", this says whether we saw it.
    options.log(`connection from ${raw.remoteAddress}:${raw.remotePort}`);
    const socket = new TLSSocket(raw, { isServer: true, cert, key, minVersion: "TLSv1.3" });
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.setNoDelay(true);
    let authenticated = false;
    const helloTimer = setTimeout(() => {
      options.log("closed a connection that sent no hello in time");
      socket.destroy();
    }, HELLO_TIMEOUT_MS);
    const decoder = new FrameDecoder();
    const send = (message: AgentMessage) => {
      if (!socket.destroyed) socket.write(encodeJsonFrame(FrameType.Control, message));
    };

    socket.on("data", (chunk: Buffer) => {
      let frames: ReturnType<FrameDecoder["push"]>;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (!authenticated) {
          if (
            frame.type !== FrameType.Hello ||
            !proofMatches(channelProof(secret, "driver", socket), helloProof(frame.payload))
          ) {
            options.log("refused a connection that did not prove the job secret");
            socket.destroy();
            return;
          }
          authenticated = true;
          clearTimeout(helloTimer);
          options.log("driver authenticated");
          options.onAuthenticated?.();
          socket.write(
            encodeJsonFrame(FrameType.Hello, {
              proof: channelProof(secret, "agent", socket).toString("hex"),
            }),
          );
          continue;
        }
        const message = frame.type === FrameType.Control ? driverMessage(frame.payload) : undefined;
        if (!message) continue;
        void handle(message, socket, send).catch((error: Error) => {
          if ("stepId" in message) send({ op: "stepError", stepId: message.stepId, message: error.message });
        });
      }
    });
  });

  async function handle(
    message: DriverMessage,
    socket: TLSSocket,
    send: (m: AgentMessage) => void,
  ): Promise<void> {
    switch (message.op) {
      case "start":
        await options.steps.start(message.stepId, message.target, message.script);
        return;
      case "attach": {
        const generation = (generations.get(message.stepId) ?? 0) + 1;
        generations.set(message.stepId, generation);
        await stream(
          message.stepId,
          message.offset,
          socket,
          send,
          () => generations.get(message.stepId) !== generation,
        );
        return;
      }
      case "signal":
        await options.steps.stop(message.stepId);
        return;
      case "release":
        generations.delete(message.stepId);
        await options.steps.release(message.stepId);
        return;
      case "rekey":
        if (!SECRET_PATTERN.test(message.secret)) throw new Error("rekey needs 32 bytes of hex");
        secret = message.secret;
        send({ op: "rekeyed" });
        return;
      case "ping":
        send({ op: "pong" });
        return;
      case "waitPorts":
        send({
          op: "portsReady",
          id: message.id,
          ...(await waitForPorts(message.ports, message.timeoutMs, options.servicesHost)),
        });
        return;
    }
  }

  async function stream(
    stepId: string,
    offset: number,
    socket: TLSSocket,
    send: (m: AgentMessage) => void,
    superseded: () => boolean,
  ): Promise<void> {
    const step = options.steps.get(stepId);
    if (!step) throw new Error(`unknown step ${stepId}`);
    await step.ready;
    const file = await open(step.outPath, "r");
    // Frames the socket has finished with, reused: a fresh 256 KiB buffer per read costs page faults and GC work
    // for every byte of output (about a third of the agent's time on a 200 MiB log).
    const spare: OutputFrame[] = [];
    let busy = false;
    const setBusy = (value: boolean) => {
      if (busy !== value) options.steps.setStreaming(value);
      busy = value;
    };
    try {
      let position = offset;
      for (;;) {
        if (socket.destroyed || superseded()) return;
        const exitedBefore = step.exitCode !== undefined;
        // Read straight into a frame-sized buffer: no copies between the file and the TLS socket.
        const frame = spare.pop() ?? allocOutputFrame(stepId, READ_CHUNK);
        const { bytesRead } = await file.read(frame.buffer, frame.dataOffset, READ_CHUNK, position);
        if (bytesRead === 0) spare.push(frame);
        if (bytesRead === 0 && busy) {
          // Caught up: watch for changes again, then look once more for what happened while nobody watched.
          setBusy(false);
          await options.steps.refresh(step);
          continue;
        }
        if (bytesRead > 0) {
          setBusy(true);
          position += bytesRead;
          // The callback runs once TLS has encrypted and sent the bytes (or the socket failed): then it is free.
          socket.write(frame.finish(bytesRead), () => spare.push(frame));
          // Caught up with a writer that writes in small pieces (busybox: 4 KiB): let output gather a moment, so
          // it travels in large frames instead of one small frame and wake-up per write.
          if (bytesRead < COALESCE_BELOW && step.exitCode === undefined) await sleep(COALESCE_MS);
          // Keep a few MiB in flight (a 256 KiB frame always exceeds the socket's high-water mark; waiting for
          // drain after each one would make the stream stop-and-wait).
          if (socket.writableLength > MAX_IN_FLIGHT) await drainedOrClosed(socket);
          continue;
        }
        // EOF: final only if the step had exited before this read (its last bytes are in the file).
        if (exitedBefore) {
          send({ op: "exit", stepId, code: step.exitCode as number, length: position });
          return;
        }
        if (!(await step.changed())) await options.steps.refresh(step);
      }
    } finally {
      setBusy(false);
      await file.close();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until each port accepts a TCP connection on the task's address (its services listen there). */
export async function waitForPorts(
  ports: number[],
  timeoutMs: number,
  host: string = DEFAULT_TASK_ADDRESS,
): Promise<{ ready: number[]; notReady: number[] }> {
  const deadline = Date.now() + timeoutMs;
  const results = await Promise.all(
    ports.map(async (port) => {
      while (Date.now() < deadline) {
        const ok = await new Promise<boolean>((resolve) => {
          const probe = netConnect({ host, port });
          probe.once("connect", () => {
            // A graceful close: some services treat a reset during their greeting as an error.
            probe.end();
            setTimeout(() => probe.destroy(), 1000).unref();
            resolve(true);
          });
          probe.once("error", () => resolve(false));
        });
        if (ok) return { port, ok };
        await new Promise((r) => setTimeout(r, 100));
      }
      return { port, ok: false };
    }),
  );
  return {
    ready: results.filter((r) => r.ok).map((r) => r.port),
    notReady: results.filter((r) => !r.ok).map((r) => r.port),
  };
}
