/**
 * Daemon process entry (dist/driver/daemon.mjs), spawned detached by the first stage client when no daemon
 * listens. Exits after SGR_DRIVER_DAEMON_IDLE_SECONDS (default 900) with no job and no stage in flight.
 */
import { rm, writeFile } from "node:fs/promises";
import { startDriverDaemon } from "./index.js";

// One daemon serves every job of the manager: a bug hit by one job must not end the others. Log and carry on;
// a daemon that does die is replaced by the next stage client, and jobs reattach through their job files.
process.on("uncaughtException", (error) => {
  process.stderr.write(
    `${JSON.stringify({ level: "ERROR", message: "uncaught exception", error: error.stack })}\n`,
  );
});
process.on("unhandledRejection", (reason) => {
  process.stderr.write(
    `${JSON.stringify({ level: "ERROR", message: "unhandled rejection", error: String(reason) })}\n`,
  );
});

const idleMs = Number(process.env.SGR_DRIVER_DAEMON_IDLE_SECONDS ?? 900) * 1000;

startDriverDaemon()
  .then(async (daemon) => {
    // Operators and tests find the daemon by this file (e.g. to measure its memory or stop it).
    const pidFile = `${daemon.socketPath}.pid`;
    await writeFile(pidFile, `${process.pid}\n`);
    let idleSince = Date.now();
    setInterval(() => {
      if (daemon.active() > 0 || daemon.context.jobs.size > 0) idleSince = Date.now();
      else if (Date.now() - idleSince > idleMs) stop();
    }, 1000).unref();
    const stop = () =>
      void daemon
        .close()
        .then(() => rm(pidFile, { force: true }))
        .then(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  })
  .catch((error: Error) => {
    process.stderr.write(`sgr-driver daemon: ${error.message}\n`);
    process.exit(1);
  });
