/** Process helpers for the local backend: finding and stopping a task's whole process tree through /proc. */
import { readdir, readFile, readlink } from "node:fs/promises";

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
