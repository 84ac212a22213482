/**
 * ECS task → the driver's TaskState, with the reason a stopped task gives put in plain language for the job log
 * (image pull errors, Spot interruption, out of memory, a container that exited, a task that never started).
 */
import type { Container, Task } from "@aws-sdk/client-ecs";
import type { TaskState } from "../../backend.js";
import { BUILD_CONTAINER, HELPER_CONTAINER } from "./layout.js";

const STARTING = new Set(["PROVISIONING", "PENDING", "ACTIVATING"]);

function containerNamed(task: Task, name: string): Container | undefined {
  return task.containers?.find((c) => c.name === name);
}

const LIMITATIONS = "see docs/limitations.md";
/** The pull found no image for the task's platform: Windows-only images, or an image of the other architecture. */
const NO_LINUX_VARIANT = /matching platform|no matching manifest|operating system|image platform|windows/i;
/** The container runtime could not find the shell the build container runs (`sh -c <build loop>`). */
const NO_SHELL =
  /exec: "?(?:\/bin\/)?sh"?: (?:executable file not found|no such file or directory)|"?sh"?: not found/i;

function platformFailure(container: Container): string | undefined {
  const reason = container.reason ?? "";
  if (!NO_LINUX_VARIANT.test(reason)) return undefined;
  const image = `the image '${container.image ?? "?"}' of container '${container.name ?? "?"}'`;
  if (/windows/i.test(reason)) {
    return `${image} is a Windows image: job tasks run Linux containers only, Windows images are not supported (${LIMITATIONS}): ${reason}`;
  }
  return (
    `${image} has no Linux variant for this task's architecture: job tasks run Linux containers only (Windows images ` +
    `are not supported, ${LIMITATIONS}); for an image of the other architecture set SGR_ARCH: ${reason}`
  );
}

function pullFailure(task: Task): string | undefined {
  for (const container of task.containers ?? []) {
    if (/CannotPullContainerError|pull image manifest|pull access denied/i.test(container.reason ?? "")) {
      return (
        platformFailure(container) ??
        `the image '${container.image ?? "?"}' of container '${container.name ?? "?"}' could not be pulled: ${container.reason}`
      );
    }
  }
  if (/CannotPullContainerError/i.test(task.stoppedReason ?? "")) {
    return `an image of the job could not be pulled: ${task.stoppedReason}`;
  }
  return undefined;
}

/**
 * The job image has no POSIX shell: the runtime could not start `sh` (distroless, scratch), or the image's
 * entrypoint exec'd our `sh` command and the shell answered 127 (command not found).
 */
function noShell(task: Task): string | undefined {
  const build = containerNamed(task, BUILD_CONTAINER);
  if (!build) return undefined;
  const startFailed = NO_SHELL.test(build.reason ?? "") || NO_SHELL.test(task.stoppedReason ?? "");
  if (!startFailed && build.exitCode !== 127) return undefined;
  return (
    `the job image '${build.image ?? "?"}' has no POSIX shell (sh): job scripts run with the image's own shell, ` +
    "as with the Docker executor, so images without one (distroless, scratch) cannot run jobs; use a variant with " +
    `a shell (often a -debug tag) (${LIMITATIONS})${build.reason ? `: ${build.reason}` : ""}`
  );
}

function outOfMemory(task: Task): string | undefined {
  const container = task.containers?.find((c) => /OutOfMemory/i.test(c.reason ?? ""));
  if (!container) return undefined;
  return `container '${container.name}' ran out of memory (${container.reason}); give the job more memory`;
}

/** 128 + SIGTERM and 128 + SIGKILL: how the containers ECS stops after an essential one exited end. */
const STOPPED_BY_ECS = new Set([143, 137]);

function exitedContainer(task: Task): string | undefined {
  // The essential containers decide the task's fate; report theirs before a service's. A container that ended
  // by ECS's stop signal is a consequence of the exit that stopped the task, so one that exited by itself comes
  // first (the helper failing makes ECS stop the build container with SIGTERM: the helper is the cause).
  const ordered = [
    containerNamed(task, BUILD_CONTAINER),
    containerNamed(task, HELPER_CONTAINER),
    ...(task.containers ?? []),
  ];
  const failed = (c: (typeof ordered)[number]) => c?.exitCode !== undefined && c.exitCode !== 0;
  const exited =
    ordered.find((c) => failed(c) && !STOPPED_BY_ECS.has(c!.exitCode!)) ??
    ordered.find(failed) ??
    ordered.find((c) => c?.exitCode !== undefined);
  if (!exited) return undefined;
  const why = exited.reason ? `: ${exited.reason}` : "";
  return `essential container '${exited.name}' exited with code ${exited.exitCode}${why}`;
}

/** A plain sentence saying why a stopped (or stopping) task stopped. */
export function stopReasonOf(task: Task): string {
  const stoppedReason = task.stoppedReason?.trim() || undefined;
  const pull = pullFailure(task);
  if (pull) return pull;
  const shell = noShell(task);
  if (shell) return shell;
  switch (task.stopCode) {
    case "SpotInterruption":
      return "AWS reclaimed the Fargate Spot capacity the job ran on (Spot interruption); retry the job, or run it on on-demand capacity";
    case "TerminationNotice":
      return `AWS stopped the task (termination notice)${stoppedReason ? `: ${stoppedReason}` : ""}`;
    case "TaskFailedToStart":
      return `the job task failed to start: ${stoppedReason ?? "no reason given"}`;
  }
  const oom = outOfMemory(task);
  if (oom) return oom;
  if (task.stopCode === "EssentialContainerExited") {
    return (
      exitedContainer(task) ?? `an essential container exited${stoppedReason ? `: ${stoppedReason}` : ""}`
    );
  }
  if (stoppedReason) return `the job task was stopped: ${stoppedReason}`;
  return "the job task stopped";
}

/** What the driver needs to know about a task; `undefined` means ECS no longer knows it. */
export function taskStateOf(task: Task | undefined): TaskState {
  if (!task)
    return {
      state: "stopped",
      reason: "the job task no longer exists in ECS (stopped tasks are kept about an hour)",
    };
  const last = task.lastStatus ?? "PROVISIONING";
  // ECS decides to stop a task by setting desiredStatus STOPPED (StopTask, an essential container exiting, Spot);
  // the DEACTIVATING/STOPPING/DEPROVISIONING statuses follow that. So the desired status says "going down".
  const goingDown = task.desiredStatus === "STOPPED" || last === "STOPPED";
  if (goingDown) {
    const exitCode = containerNamed(task, BUILD_CONTAINER)?.exitCode;
    return exitCode === undefined
      ? { state: "stopped", reason: stopReasonOf(task) }
      : { state: "stopped", reason: stopReasonOf(task), exitCode };
  }
  return STARTING.has(last) ? { state: "starting" } : { state: "running" };
}
