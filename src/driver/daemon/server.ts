/**
 * The driver daemon: one long-lived process in the manager holding every job's state and agent channel. Each
 * gitlab-runner stage process is a thin client that forwards argv, environment and signals here (wire.ts) and
 * streams back what the stage writes.
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { encodeFrame, encodeJsonFrame, FrameDecoder, frameHeader } from "../channel/frames.js";
import { cleanupStage } from "../stages/cleanup.js";
import { configStage } from "../stages/config.js";
import type { DriverContext, StageIO } from "../stages/context.js";
import { prepareStage } from "../stages/prepare.js";
import { runStage } from "../stages/run.js";
import { type StageRequest, WireType } from "./wire.js";

const MAX_IN_FLIGHT = 4 * 1024 * 1024;

export interface DaemonServer {
  socketPath: string;
  /** Stage requests being served right now. */
  active(): number;
  close(): Promise<void>;
}

async function dispatch(ctx: DriverContext, io: StageIO, argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "config":
      return configStage(ctx, io);
    case "prepare":
      return prepareStage(ctx, io);
    case "run":
      return runStage(ctx, io, rest[0] ?? "", rest[1] ?? "");
    case "cleanup":
      return cleanupStage(ctx, io);
    default:
      io.stderr(
        `sgr-driver: unknown command ${JSON.stringify(command)} (expected config, prepare, run or cleanup)\n`,
      );
      return Number(io.env.SYSTEM_FAILURE_EXIT_CODE ?? 2) || 2;
  }
}

/**
 * Writes frames to the stage process: a string or buffer as one frame, pieces (as an agent frame arrived) as one
 * frame without joining them. Returns false once a few MiB are in flight, so the caller waits for `drained`.
 */
function frameWriter(socket: Socket) {
  return (type: number, data: string | Buffer | Buffer[], written?: () => void): boolean => {
    if (socket.destroyed) {
      written?.();
      return false;
    }
    if (!Array.isArray(data)) socket.write(encodeFrame(type, data), written && (() => written()));
    else {
      socket.cork();
      socket.write(
        frameHeader(
          type,
          data.reduce((sum, piece) => sum + piece.length, 0),
        ),
      );
      // The last piece's callback runs once every piece was handed to the kernel, or the socket failed.
      data.forEach((piece, i) => {
        socket.write(piece, written && i === data.length - 1 ? () => written() : undefined);
      });
      socket.uncork();
    }
    // Backpressure only beyond a few MiB in flight: waiting for every write to drain would stall the stream.
    return socket.writableLength < MAX_IN_FLIGHT;
  };
}

/** Resolves once the stage process can take more output, or is gone. */
function drained(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    if (socket.destroyed || socket.writableLength < MAX_IN_FLIGHT) return resolve();
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}

function serveConnection(ctx: DriverContext, socket: Socket, onDone: () => void): void {
  const decoder = new FrameDecoder();
  const abort = new AbortController();
  let started = false;
  let finished = false;
  const write = frameWriter(socket);
  socket.on("error", () => {});
  socket.on("close", () => {
    // The stage process went away (killed): treat it as a cancel so a remote step does not run on.
    if (!finished) abort.abort();
  });
  socket.on("data", (chunk: Buffer) => {
    let frames: ReturnType<FrameDecoder["push"]>;
    try {
      frames = decoder.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      if (frame.type === WireType.Signal) {
        abort.abort();
        continue;
      }
      if (frame.type !== WireType.Request || started) continue;
      started = true;
      let request: StageRequest;
      try {
        request = JSON.parse(frame.payload.toString("utf8")) as StageRequest;
      } catch {
        socket.destroy();
        return;
      }
      const io: StageIO = {
        env: request.env ?? {},
        stdout: (data, written) => write(WireType.Stdout, data, written),
        stderr: (data) => write(WireType.Stderr, data),
        drained: () => drained(socket),
        cancelled: abort.signal,
      };
      const argv = Array.isArray(request.argv) ? request.argv : [];
      const startedAt = performance.now();
      void dispatch(ctx, io, argv)
        .catch((error: Error) => {
          ctx.log("error", "stage crashed", { error: error.message });
          return Number(io.env.SYSTEM_FAILURE_EXIT_CODE ?? 2) || 2;
        })
        .then((code) => {
          finished = true;
          ctx.log("info", "stage finished", {
            command: argv[0],
            stage: argv[0] === "run" ? argv[2] : undefined,
            jobId: io.env.CUSTOM_ENV_CI_JOB_ID,
            code,
            ms: Math.round(performance.now() - startedAt),
          });
          if (!socket.destroyed) socket.end(encodeJsonFrame(WireType.Exit, { code }));
          onDone();
        });
    }
  });
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(socketPath);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

export async function listenDaemon(ctx: DriverContext, socketPath: string): Promise<DaemonServer> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
  // A socket file nobody answers on is left by a dead daemon; one that answers belongs to a live daemon.
  if (await answers(socketPath)) throw new Error(`a driver daemon already listens on ${socketPath}`);
  await rm(socketPath, { force: true });
  let active = 0;
  const server: Server = createServer((socket) => {
    active++;
    serveConnection(ctx, socket, () => {
      active--;
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  // Only this user (the one gitlab-runner runs as) may drive jobs.
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    active: () => active,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const job of ctx.jobs.values()) job.channel.close();
    },
  };
}
