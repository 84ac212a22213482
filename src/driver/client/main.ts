/**
 * The per-stage client in Node (dist/driver/sgr-driver-node.mjs): same wire protocol and behaviour as the Go
 * client (src/driver/client-go/main.go), kept as a fallback where Go is unavailable. Node's own start costs
 * ~45 ms per stage, which is why gitlab-runner is pointed at the Go client.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeFrame, encodeJsonFrame, FrameDecoder } from "../channel/frames.js";
import { socketPathFrom, WireType } from "../daemon/wire.js";

const argv = process.argv.slice(2);
const socketPath = socketPathFrom(process.env);

function fail(message: string): never {
  process.stderr.write(`sgr-driver: ${message}\n`);
  process.exit(argv[0] === "cleanup" ? 0 : Number(process.env.SYSTEM_FAILURE_EXIT_CODE ?? 2) || 2);
}

const dial = () =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });

async function connectOrStart(): Promise<Socket> {
  try {
    return await dial();
  } catch {
    // No daemon: start one detached. (The Go client also serialises this with a lock file.)
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    const log = openSync(`${socketPath}.log`, "a", 0o600);
    const script =
      process.env.SGR_DRIVER_DAEMON ?? join(dirname(fileURLToPath(import.meta.url)), "daemon.mjs");
    spawn(process.env.SGR_DRIVER_NODE ?? process.execPath, [script], {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: "/",
    }).unref();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        return await dial();
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    fail(`the driver daemon did not start listening on ${socketPath}`);
  }
}

const socket = await connectOrStart().catch((error: Error) => fail(error.message));
const env = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
);
socket.write(encodeJsonFrame(WireType.Request, { argv, env, cwd: process.cwd() }));
for (const name of ["SIGTERM", "SIGINT"] as const) {
  process.on(name, () => socket.write(encodeFrame(WireType.Signal, name)));
}
const decoder = new FrameDecoder();
socket.on("data", (chunk: Buffer) => {
  for (const frame of decoder.push(chunk)) {
    if (frame.type === WireType.Stdout) process.stdout.write(frame.payload);
    else if (frame.type === WireType.Stderr) process.stderr.write(frame.payload);
    else if (frame.type === WireType.Exit) {
      const { code } = JSON.parse(frame.payload.toString("utf8")) as { code: number };
      process.stdout.write("", () => process.exit(code));
    }
  }
});
socket.on("close", () => fail("lost the connection to the driver daemon"));
