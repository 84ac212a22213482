/**
 * Agent entry point (helper container, or the local backend's task). Configuration by environment:
 * SGR_AGENT_SECRET (required; removed from the environment at once so scripts never see it), SGR_AGENT_PORT
 * (default AGENT_CHANNEL_PORT; 0 = any), SGR_AGENT_HOST (default 0.0.0.0), SGR_SHARED (the volume shared with the build
 * container, default /sgr), SGR_AGENT_PORT_FILE (write the bound port there once listening), SGR_WRITABLE_DIRS
 * (`:`-separated directories opened to every user at start: the builds volume, for non-root job images),
 * SGR_TASK_ADDRESS (where the task's services listen, default 127.0.0.1: TASK_ADDRESS_ENV in build-loop.ts).
 */
import { writeFile } from "node:fs/promises";
import { AGENT_CHANNEL_PORT } from "../config/ports.js";
import { DEFAULT_TASK_ADDRESS, SHARED_DIR, TASK_ADDRESS_ENV } from "./build-loop.js";
import { detectShell } from "./processes.js";
import { startAgentServer } from "./server.js";
import { StepRunner } from "./steps.js";

const log = (message: string) =>
  process.stderr.write(`${JSON.stringify({ level: "INFO", service: "sgr-agent", message })}\n`);

// The agent is the job task's only way to the driver: an error serving one request must not end the job.
process.on("uncaughtException", (error) => log(`uncaught exception: ${error.stack ?? error.message}`));
process.on("unhandledRejection", (reason) => log(`unhandled rejection: ${String(reason)}`));

async function main(): Promise<void> {
  const secret = process.env.SGR_AGENT_SECRET;
  delete process.env.SGR_AGENT_SECRET;
  if (!secret || secret.length < 32) throw new Error("SGR_AGENT_SECRET is missing or too short");
  const steps = new StepRunner({
    sharedDir: process.env.SGR_SHARED ?? SHARED_DIR,
    helperShell: await detectShell(),
    writableDirs: (process.env.SGR_WRITABLE_DIRS ?? "").split(":").filter(Boolean),
  });
  await steps.init();
  const unadopted = exitUnlessAdopted(process.env.SGR_ADOPT_DEADLINE_SECONDS);
  const server = await startAgentServer({
    secret,
    host: process.env.SGR_AGENT_HOST ?? "0.0.0.0",
    port: Number(process.env.SGR_AGENT_PORT ?? AGENT_CHANNEL_PORT),
    steps,
    log,
    servicesHost: process.env[TASK_ADDRESS_ENV] || DEFAULT_TASK_ADDRESS,
    onAuthenticated: () => clearTimeout(unadopted),
  });
  if (process.env.SGR_AGENT_PORT_FILE) await writeFile(process.env.SGR_AGENT_PORT_FILE, `${server.port}\n`);
  log(`listening on port ${server.port}`);
  // SIGTERM means the task is being stopped (StopTask, Spot interruption: up to 2 minutes' notice). Stopping the
  // steps ourselves would report them as the script failing (exit 143); instead we keep serving, so a step that
  // finishes in time reports its real result and one that does not ends with the connection, which the driver
  // reports as a system failure with the task's stop reason. Once the driver has collected every step's result
  // (always so after the job's cleanup), nothing is left to serve: the agent exits rather than hold the task (and
  // its billing) until ECS kills it at the stop timeout.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received: the task is stopping; exiting once the driver has every step's result`);
    const exitWhenDone = () => {
      if (steps.unreleased > 0) return void setTimeout(exitWhenDone, EXIT_POLL_MS);
      log("no step left to serve: exiting");
      process.exit(0);
    };
    exitWhenDone();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** Exit code of a speculative task's agent that no driver connected to in time (the task then stops). */
const UNADOPTED_EXIT_CODE = 0;

/**
 * A task started ahead of its job (SGR_ADOPT_DEADLINE_SECONDS set) must not bill for long when no driver takes it:
 * unless a driver connects within the deadline, the agent exits and ECS stops the task (its essential container).
 */
function exitUnlessAdopted(deadline: string | undefined): NodeJS.Timeout | undefined {
  if (!deadline) return undefined;
  const seconds = Number(deadline);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new Error("SGR_ADOPT_DEADLINE_SECONDS must be a positive number");
  const timer = setTimeout(() => {
    log(`speculative job task not adopted: no driver connected within ${seconds} s; exiting`);
    process.exit(UNADOPTED_EXIT_CODE);
  }, seconds * 1000);
  return timer;
}

/** How often a stopping agent checks whether the driver still has results to collect. */
const EXIT_POLL_MS = 200;

main().catch((error: Error) => {
  process.stderr.write(
    `${JSON.stringify({ level: "ERROR", service: "sgr-agent", message: error.message })}\n`,
  );
  process.exit(1);
});
