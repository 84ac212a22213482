/**
 * The daemon's side of the channel to one job's agent: one authenticated TLS connection carrying every step.
 * Resumable: each step remembers how many output bytes it received; after a dropped connection we reconnect and
 * attach again at that offset, so no byte is lost or duplicated while the step keeps running in the task. While
 * disconnected we ask the backend whether the task is gone, to fail fast with its stop reason.
 */
import { randomBytes } from "node:crypto";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import type { AgentEndpoint } from "../backend.js";
import { SystemFailure } from "../exit-codes.js";
import { ChannelReader, type ChannelReaderHandlers } from "./channel-reader.js";
import { encodeJsonFrame } from "./frames.js";
import {
  type AgentMessage,
  channelProof,
  type DriverMessage,
  FrameType,
  proofMatches,
  type StepTarget,
} from "./protocol.js";

const HEARTBEAT_MS = 5_000;
const SILENCE_LIMIT_MS = 20_000;

export interface AgentChannelOptions {
  endpoint: AgentEndpoint;
  secret: string;
  /** Time for one connection attempt (TCP + TLS + proofs). */
  connectTimeoutMs?: number;
  /** Give up resuming a dropped connection after this long (then running steps fail as system failures). */
  resumeTimeoutMs?: number;
  /** While disconnected: the task's stop reason once it is gone, else undefined. */
  taskStoppedReason?: () => Promise<string | undefined>;
  /**
   * Replace the secret right after the first connection (default true): the first one travelled in a RunTask
   * override that anyone with ecs:DescribeTasks can read; the new one never leaves this process (and the job file).
   */
  rotateSecret?: boolean;
  log?: (message: string, detail?: Record<string, unknown>) => void;
}

/**
 * Receives a step's output (pieces, in order); a returned promise pauses the channel until it resolves. `release`
 * (when given) must be called once the bytes have been written on: their buffer is then reused.
 */
export type OutputSink = (data: Buffer[], release?: () => void) => undefined | Promise<void>;

interface ActiveStep {
  target: StepTarget;
  script: string;
  received: number;
  onOutput: OutputSink;
  resolve: (code: number) => void;
  reject: (error: Error) => void;
}

export interface RunningStep {
  /** Exit code of the script; rejects with SystemFailure when the task or channel is lost. */
  done: Promise<number>;
  /** Asks the agent to stop the step (SIGTERM, SIGKILL after 1 s); `done` then resolves with its code. */
  stop(): void;
}

/** Size of the one buffer each connection reads into (TLS hands over at most one 16 KiB record per read). */
const READ_BUFFER_BYTES = 64 * 1024;

/** A connection with its frame reader; frames that arrived right after the hello wait in `pending`. */
interface AgentConnection {
  socket: TLSSocket;
  reader: ChannelReader;
  pending: Array<(handlers: ChannelReaderHandlers) => void>;
}

/** One connection attempt: TLS, then mutual proof of the job secret bound to this session. */
export function connectAgent(
  endpoint: AgentEndpoint,
  secret: string,
  timeoutMs: number,
): Promise<AgentConnection> {
  return new Promise((resolve, reject) => {
    const pending: AgentConnection["pending"] = [];
    // Everything after the hello belongs to the channel: keep it until the channel takes the connection over.
    const queue: ChannelReaderHandlers = {
      frame: (type, payload) => pending.push((h) => h.frame(type, payload)),
      output: (stepId, data, release) => pending.push((h) => h.output(stepId, data, release)),
    };
    const reader = new ChannelReader({
      frame: (type, payload) => {
        reader.handlers = queue;
        let proof: unknown;
        try {
          proof = (JSON.parse(payload.toString("utf8")) as { proof?: unknown }).proof;
        } catch {
          proof = undefined;
        }
        if (type !== FrameType.Hello || !proofMatches(channelProof(secret, "agent", socket), proof)) {
          fail(new Error("the agent did not prove the job secret"));
          return;
        }
        clearTimeout(timer);
        socket.removeAllListeners("error");
        socket.removeAllListeners("close");
        socket.pause();
        resolve({ socket, reader, pending });
      },
      output: (_stepId, _data, release) => {
        release();
        fail(new Error("the agent sent output before proving the job secret"));
      },
    });
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const socket = tlsConnect({
      host: endpoint.host,
      port: endpoint.port,
      // The agent's certificate is ephemeral; the secret-bound proofs below authenticate it instead.
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
      // Decrypted bytes land in one reused buffer instead of a new Buffer per TLS record (see channel-reader.ts).
      onread: {
        buffer: readBuffer,
        callback: (length: number) => {
          try {
            reader.push(readBuffer, length);
          } catch {
            socket.destroy();
            return false;
          }
          return true;
        },
      },
    } as ConnectionOptions);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error("timed out connecting to the agent")), timeoutMs);
    socket.once("error", fail);
    socket.once("close", () => fail(new Error("the agent closed the connection during the handshake")));
    socket.once("secureConnect", () => {
      socket.write(
        encodeJsonFrame(FrameType.Hello, { proof: channelProof(secret, "driver", socket).toString("hex") }),
      );
    });
  });
}

export class AgentChannel {
  private socket: TLSSocket | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private readonly steps = new Map<string, ActiveStep>();
  private readonly portWaits = new Map<number, (r: { ready: number[]; notReady: number[] }) => void>();
  private nextRequestId = 1;
  private readonly connectTimeoutMs: number;
  private lastHeard = Date.now();
  private secret: string;
  /** A rotated secret the agent may or may not have applied yet (its ack can be lost with a connection). */
  private pendingSecret: string | undefined;
  private rekeyed: (() => void) | undefined;
  private attempts = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly resumeTimeoutMs: number;

  private constructor(private readonly options: AgentChannelOptions) {
    this.secret = options.secret;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.resumeTimeoutMs = options.resumeTimeoutMs ?? 120_000;
  }

  /** Connects once (throws when the agent is not reachable or does not authenticate). */
  static async open(options: AgentChannelOptions): Promise<AgentChannel> {
    const channel = new AgentChannel(options);
    channel.adopt(await connectAgent(options.endpoint, options.secret, channel.connectTimeoutMs));
    if (options.rotateSecret !== false) {
      try {
        await channel.rotateSecret();
      } catch (error) {
        channel.close();
        throw error;
      }
    }
    return channel;
  }

  /** The secret the agent accepts now (saved in the job file for a daemon restart). */
  get currentSecret(): string {
    return this.secret;
  }

  private async rotateSecret(): Promise<void> {
    const next = randomBytes(32).toString("hex");
    this.pendingSecret = next;
    const acknowledged = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the agent did not confirm the new channel secret")),
        10_000,
      );
      this.rekeyed = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.send({ op: "rekey", secret: next });
    await acknowledged;
  }

  runStep(stepId: string, target: StepTarget, script: string, onOutput: OutputSink): RunningStep {
    const done = new Promise<number>((resolve, reject) => {
      this.steps.set(stepId, { target, script, received: 0, onOutput, resolve, reject });
    });
    this.send({ op: "start", stepId, target, script });
    this.send({ op: "attach", stepId, offset: 0 });
    return { done, stop: () => this.send({ op: "signal", stepId }) };
  }

  async waitPorts(ports: number[], timeoutMs: number): Promise<{ ready: number[]; notReady: number[] }> {
    const id = this.nextRequestId++;
    const result = new Promise<{ ready: number[]; notReady: number[] }>((resolve) =>
      this.portWaits.set(id, resolve),
    );
    this.send({ op: "waitPorts", id, ports, timeoutMs });
    return result;
  }

  /** A connection that has been silent too long while work is in flight is dead: drop it and resume. */
  private checkLiveness(): void {
    const socket = this.socket;
    if (!socket || socket.destroyed || (this.steps.size === 0 && this.portWaits.size === 0)) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      this.options.log?.("channel silent, reconnecting", { silentMs: Date.now() - this.lastHeard });
      socket.destroy();
      return;
    }
    this.send({ op: "ping" });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.socket?.destroy();
    this.socket = undefined;
    const error = new SystemFailure("the job's channel was closed");
    for (const step of this.steps.values()) step.reject(error);
    this.steps.clear();
  }

  private send(message: DriverMessage): void {
    // While disconnected, messages are not queued: the reconnect resends start/attach for every active step.
    if (this.socket && !this.socket.destroyed) this.socket.write(encodeJsonFrame(FrameType.Control, message));
    else void this.reconnect();
  }

  private adopt(connection: AgentConnection): void {
    const { socket, reader } = connection;
    this.socket = socket;
    this.lastHeard = Date.now();
    this.heartbeat ??= setInterval(() => this.checkLiveness(), HEARTBEAT_MS);
    this.heartbeat.unref();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    const handlers: ChannelReaderHandlers = {
      frame: (type, payload) => {
        this.lastHeard = Date.now();
        this.onFrame(type, payload);
      },
      output: (stepId, data, release) => {
        this.lastHeard = Date.now();
        this.onOutput(socket, stepId, data, release);
      },
    };
    for (const deliver of connection.pending.splice(0)) deliver(handlers);
    reader.handlers = handlers;
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.socket === socket) this.socket = undefined;
      if (!this.closed && (this.steps.size > 0 || this.portWaits.size > 0)) void this.reconnect();
    });
    socket.resume();
  }

  private onOutput(socket: TLSSocket, stepId: string, data: Buffer, release: () => void): void {
    const step = this.steps.get(stepId);
    if (!step) {
      release();
      return;
    }
    step.received += data.length;
    const wait = step.onOutput([data], release);
    if (wait && this.socket === socket) {
      socket.pause();
      void wait.then(() => socket.resume());
    }
  }

  private onFrame(type: number, payload: Buffer): void {
    if (type !== FrameType.Control) return;
    const message = JSON.parse(payload.toString("utf8")) as AgentMessage;
    if (message.op === "pong") return;
    if (message.op === "rekeyed") {
      if (this.pendingSecret) this.secret = this.pendingSecret;
      this.pendingSecret = undefined;
      this.rekeyed?.();
      return;
    }
    if (message.op === "portsReady") {
      this.portWaits.get(message.id)?.({ ready: message.ready, notReady: message.notReady });
      this.portWaits.delete(message.id);
      return;
    }
    const step = this.steps.get(message.stepId);
    if (!step) return;
    if (message.op === "stepError") {
      this.steps.delete(message.stepId);
      step.reject(new SystemFailure(`the agent could not run the step: ${message.message}`));
      return;
    }
    if (step.received !== message.length) {
      // Cannot happen on one ordered connection; attach again rather than lose bytes.
      this.send({ op: "attach", stepId: message.stepId, offset: step.received });
      return;
    }
    this.steps.delete(message.stepId);
    this.send({ op: "release", stepId: message.stepId });
    step.resolve(message.code);
  }

  private reconnect(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.connecting ??= this.resume().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async resume(): Promise<void> {
    const deadline = Date.now() + this.resumeTimeoutMs;
    let delay = 50;
    let lastError = "connection lost";
    while (!this.closed) {
      const stopped = await this.options.taskStoppedReason?.().catch(() => undefined);
      if (stopped !== undefined) return this.failAll(new SystemFailure(`the job task stopped: ${stopped}`));
      if (Date.now() > deadline) {
        return this.failAll(
          new SystemFailure(
            `lost the channel to the job task and could not resume within ${this.resumeTimeoutMs / 1000} s (${lastError})`,
          ),
        );
      }
      // Until a rotation is confirmed, the agent may hold either secret: alternate between them.
      const candidates = this.pendingSecret ? [this.secret, this.pendingSecret] : [this.secret];
      const secret = candidates[this.attempts++ % candidates.length] as string;
      try {
        const connection = await connectAgent(this.options.endpoint, secret, this.connectTimeoutMs);
        if (secret !== this.secret) {
          this.secret = secret;
          this.pendingSecret = undefined;
          this.rekeyed?.();
        }
        if (this.closed) {
          connection.socket.destroy();
          return;
        }
        this.options.log?.("channel resumed", { steps: this.steps.size });
        this.adopt(connection);
        for (const [stepId, step] of this.steps) {
          this.send({ op: "start", stepId, target: step.target, script: step.script });
          this.send({ op: "attach", stepId, offset: step.received });
        }
        return;
      } catch (error) {
        lastError = (error as Error).message;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private failAll(error: Error): void {
    for (const step of this.steps.values()) step.reject(error);
    this.steps.clear();
    for (const resolve of this.portWaits.values()) resolve({ ready: [], notReady: [] });
    this.portWaits.clear();
  }
}
