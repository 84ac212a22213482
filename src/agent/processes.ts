/** Process helpers for the agent: shell detection and stopping a step's whole process tree. */
import { constants } from "node:fs";
import { access, readdir, readFile, readlink } from "node:fs/promises";

/** Same order the Docker executor uses: bash in the usual places, then sh. */
export async function detectShell(root = ""): Promise<string> {
  const candidates = [
    "/usr/local/bin/bash",
    "/usr/bin/bash",
    "/bin/bash",
    "/usr/local/bin/sh",
    "/usr/bin/sh",
    "/bin/sh",
  ];
  for (const candidate of candidates) {
    try {
      await access(root + candidate, constants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  throw new Error("no POSIX shell found (looked for bash and sh in /usr/local/bin, /usr/bin, /bin)");
}

/** Parent pid from /proc/<pid>/stat (the command name may contain spaces and parentheses). */
function parentPid(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** Every descendant of `root` (not `root` itself), found through /proc. */
export async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = parentPid(await readFile(`/proc/${entry}/stat`, "utf8"));
      if (ppid === undefined) continue;
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process exited while we looked
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Processes whose root directory is `root` or below it (what runs in a chroot). */
export async function processesRootedIn(root: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const link = await readlink(`/proc/${entry}/root`);
      if (link === root || link.startsWith(`${root}/`)) found.push(Number(entry));
    } catch {
      // exited, or a kernel thread
    }
  }
  return found;
}

export function signalAll(pids: number[], signal: NodeJS.Signals): number {
  let sent = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      sent++;
    } catch {
      // already gone
    }
  }
  return sent;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
