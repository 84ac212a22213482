/**
 * The build container's command. The user's image has only a POSIX shell — none of our binaries — so the
 * container runs this `sh` loop, which reads `run <step>` lines from a FIFO on the volume it shares with the helper
 * container, runs `<step>.sh` with the detected shell (bash in /usr/local/bin, /usr/bin, /bin, then sh, like the
 * Docker executor), appends output to `<step>.out` and writes the exit code to `<step>.rc`. Only shell builtins
 * are used. The agent in the helper container writes the scripts, tails the output and, to cancel a step, signals
 * the step's processes (the task shares one PID namespace: Fargate `pidMode: task`; local backend: one namespace).
 *
 * Fargate task definition contract: shared volume mounted at SHARED_DIR in helper and build containers; build
 * container `command: ["sh", "-c", BUILD_LOOP_SCRIPT]` (after the image's entrypoint when `image:entrypoint` is
 * set), environment SGR_SHARED and SGR_SERVICE_ALIASES; `dependsOn` the helper having STARTED (no health check:
 * it would add its interval to every job's start), so the loop itself waits until the agent's FIFO exists.
 * TASK_ADDRESS_ENV, where set, is the address of the task's services (see there); the aliases resolve to it.
 */
export const SHARED_DIR = "/sgr";
export const CONTROL_FIFO = "ctl";
export const STEPS_DIR = "steps";

/**
 * The address the task's services listen on, for the helper's readiness probe and the build container's aliases.
 * Unset, it is 127.0.0.1: on Fargate (awsvpc) a task's containers share one network namespace, localhost included.
 * Where tasks share a host's network instead, each on an address of its own, the platform sets it to that address.
 */
export const TASK_ADDRESS_ENV = "SGR_TASK_ADDRESS";
export const DEFAULT_TASK_ADDRESS = "127.0.0.1";

/** Starts the job-log line the build loop writes when it cannot add service aliases to /etc/hosts. */
export const HOSTS_WARNING_PREFIX = "WARNING: service aliases:";

export const BUILD_LOOP_SCRIPT = [
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  'd="${SGR_SHARED:-/sgr}"',
  'SGR_SH=""',
  "for s in /usr/local/bin/bash /usr/bin/bash /bin/bash /usr/local/bin/sh /usr/bin/sh /bin/sh /busybox/sh; do",
  '  if [ -x "$s" ]; then SGR_SH="$s"; break; fi',
  "done",
  // Service aliases resolve to the task's address (TASK_ADDRESS_ENV; localhost on Fargate, where all containers of
  // a task share one network namespace). An image whose user cannot write /etc/hosts (not root) gets a warning at
  // the top of its first step's output instead.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  'h="${SGR_HOSTS_FILE:-/etc/hosts}"',
  `a="\${${TASK_ADDRESS_ENV}:-${DEFAULT_TASK_ADDRESS}}"`,
  'SGR_NOTE=""',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  'if [ -n "${SGR_SERVICE_ALIASES:-}" ] && ! echo "$a $SGR_SERVICE_ALIASES" >>"$h" 2>/dev/null; then',
  `  SGR_NOTE="${HOSTS_WARNING_PREFIX} $h is not writable by this image's user; service aliases ($SGR_SERVICE_ALIASES) do not resolve. Reach services at $a, or run the job image as root."`,
  "fi",
  'while [ ! -p "$d/ctl" ]; do sleep 1 2>/dev/null || :; done',
  // Read-write open never blocks and keeps the FIFO open, so writers never see EOF races.
  'exec 3<>"$d/ctl"',
  "while read -r op id <&3; do",
  '  case "$op" in',
  '    run) if [ -n "$SGR_NOTE" ]; then echo "$SGR_NOTE" >>"$d/steps/$id.out"; SGR_NOTE=""; fi',
  '      ( "$SGR_SH" "$d/steps/$id.sh" </dev/null >>"$d/steps/$id.out" 2>&1; echo "$?" >"$d/steps/$id.rc" ) &',
  '      echo "$!" >"$d/steps/$id.pid" ;;',
  "    quit) exit 0 ;;",
  "  esac",
  "done",
].join("\n");

export function buildContainerCommand(): string[] {
  return ["sh", "-c", BUILD_LOOP_SCRIPT];
}
