/**
 * Entrypoint of the manager container (bundled to /opt/sgr/lib/manager.mjs). Startup errors exit 1 with a
 * message naming what to fix; otherwise the process exits with gitlab-runner's code.
 */
import { createDocumentClient } from "../config/aws-clients.js";
import { createLogger } from "../observability/logger.js";
import { runManager } from "./manager.js";
import { loadManagerSettings } from "./settings.js";
import { resolveTaskArn } from "./task-metadata.js";

const logger = createLogger("sgr-manager");

async function main(): Promise<number> {
  let settings: ReturnType<typeof loadManagerSettings>;
  let taskArn: string;
  try {
    settings = loadManagerSettings(process.env);
    taskArn = await resolveTaskArn(process.env);
  } catch (err) {
    // Messages from config validation name fields, never values, so the token cannot appear here.
    const message = err instanceof Error ? err.message : String(err);
    logger.error("manager cannot start", { error: message });
    process.stderr.write(`sgr-manager: cannot start: ${message}\n`);
    return 1;
  }
  const db = createDocumentClient();
  return runManager(settings, { db, taskArn, logger, signals: process, env: process.env });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    logger.error("manager failed", { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
