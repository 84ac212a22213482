/**
 * A container definition's healthCheck, run as the ECS agent runs it: the command (CMD or CMD-SHELL) inside the
 * container every `interval` seconds, failing after `timeout`; `retries` failures in a row make it UNHEALTHY,
 * failures during `startPeriod` do not count, a success makes it HEALTHY.
 */
import type { HealthCheck } from "@aws-sdk/client-ecs";
import { podman } from "./podman.js";

export interface HealthCheckHooks {
  /** True once the container has exited or the task is stopping. */
  done(): boolean;
  report(status: "HEALTHY" | "UNHEALTHY"): void;
}

/** The command to exec: CMD-SHELL runs through /bin/sh -c, CMD as given. */
export function healthCommand(check: HealthCheck): string[] {
  const command = check.command ?? [];
  if (command[0] === "CMD-SHELL") return ["/bin/sh", "-c", command.slice(1).join(" ")];
  return command.slice(command[0] === "CMD" ? 1 : 0);
}

export async function runHealthChecks(
  container: string,
  check: HealthCheck,
  hooks: HealthCheckHooks,
): Promise<void> {
  const exec = healthCommand(check);
  const intervalMs = (check.interval ?? 30) * 1000;
  const timeoutMs = (check.timeout ?? 5) * 1000;
  const retries = check.retries ?? 3;
  const graceUntil = Date.now() + (check.startPeriod ?? 0) * 1000;
  let failures = 0;
  while (!hooks.done()) {
    await new Promise((r) => setTimeout(r, intervalMs));
    if (hooks.done()) break;
    const result = await podman(["exec", container, ...exec], { timeoutMs });
    if (result.code === 0) {
      failures = 0;
      hooks.report("HEALTHY");
    } else if (Date.now() >= graceUntil && ++failures >= retries) {
      hooks.report("UNHEALTHY");
    }
  }
}
