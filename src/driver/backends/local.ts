/**
 * The local backend: runs a job's "task" on this machine with the same agent and channel code as Fargate.
 * One task = one `unshare --pid --mount` namespace (like a Fargate task with `pidMode: task`) holding:
 * - the agent (helper side) as a host process, so git and gitlab-runner come from this machine's PATH;
 * - the build side: the build loop (src/driver/backends/build-loop.ts) in a chroot of a minimal root filesystem holding only
 *   busybox (`/bin/busybox` + applet symlinks) — no bash, git or gitlab-runner;
 * - services: host processes, from an image → command map (tests use a tiny TCP server as the "service image").
 * The builds, cache and shared control dirs are bind-mounted into the chroot at their host paths, so the scripts
 * gitlab-runner generates see the same paths on both sides. Stopping the task kills the namespace's init, which
 * makes the kernel kill every process in it: nothing is left behind.
 * Differences from Fargate: services share the host network (two concurrent jobs cannot use the same service
 * port); the job's `image:` is not pulled (the user side is always the busybox root).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, open, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Backend, JobIdentity, StartedTask, StartTaskRequest, TaskState } from "../backend.js";
import { BUILD_LOOP_SCRIPT, CONTROL_FIFO, STEPS_DIR } from "./build-loop.js";
import { descendants, isAlive, processesRootedIn, signalAll } from "./processes.js";

export interface LocalImage {
  /** Command that stands in for the image (its entrypoint + command). */
  command: string[];
  /** Ports it listens on (prepare waits for them). */
  ports?: number[];
}

export interface LocalBackendOptions {
  /** Work dir holding one directory per job task. */
  baseDir: string;
  /** The agent executable (dist/agent/sgr-agent, built by scripts/build-driver.mjs). */
  agentBinary: string;
  busybox?: string;
  images?: Record<string, LocalImage>;
  /** How long startTask waits for the agent to listen. */
  startTimeoutMs?: number;
}

const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
const safeName = (value: string) => value.replace(/[^A-Za-z0-9_.-]/g, "_");

export class LocalBackend implements Backend {
  readonly name = "local" as const;
  private applets: string[] | undefined;

  constructor(private readonly options: LocalBackendOptions) {}

  private taskIdOf(identity: JobIdentity): string {
    return `local-${safeName(identity.runnerName)}-${safeName(identity.jobId)}`;
  }

  private dirOf(taskId: string): string {
    if (!/^local-[A-Za-z0-9_.-]+$/.test(taskId)) throw new Error(`not a local task id: ${taskId}`);
    return join(this.options.baseDir, taskId);
  }

  jobPaths(identity: JobIdentity): { buildsDir: string; cacheDir: string } {
    const dir = this.dirOf(this.taskIdOf(identity));
    return { buildsDir: join(dir, "builds"), cacheDir: join(dir, "cache") };
  }

  servicePorts(image: string): number[] {
    return this.options.images?.[image]?.ports ?? [];
  }

  async findTask(identity: JobIdentity): Promise<string | undefined> {
    const taskId = this.taskIdOf(identity);
    const pid = await this.pidOf(taskId);
    return pid !== undefined && isAlive(pid) ? taskId : undefined;
  }

  async startTask(request: StartTaskRequest): Promise<StartedTask> {
    const taskId = this.taskIdOf(request.identity);
    const existing = await this.findTask(request.identity);
    // Idempotent per job: a live task keeps running (the caller reaps it if it cannot reuse it).
    if (existing) return { taskId, endpoint: await this.waitForAgent(taskId) };

    const dir = this.dirOf(taskId);
    await rm(dir, { recursive: true, force: true });
    const rootfs = join(dir, "rootfs");
    const shared = join(dir, "shared");
    for (const sub of ["builds", "cache", join("shared", STEPS_DIR)])
      await mkdir(join(dir, sub), { recursive: true });
    await this.buildRootfs(rootfs);
    for (const sub of ["builds", "cache", "shared"]) await mkdir(join(rootfs, dir, sub), { recursive: true });

    const services = request.shape.services.map((service) => {
      const image = this.options.images?.[service.image];
      if (!image) {
        throw new Error(
          `service image '${service.image}' is not available on the local backend (add it to SGR_LOCAL_IMAGES)`,
        );
      }
      const env = Object.entries(service.environment ?? {}).map(([k, v]) => `${k}=${quote(v)}`);
      const command = [...image.command, ...(service.command ?? [])].map(quote).join(" ");
      return `env -i PATH="$PATH" ${env.join(" ")} ${command} >${quote(join(dir, `${service.name}.log`))} 2>&1 </dev/null &`;
    });
    const aliases = request.shape.services.flatMap((s) => s.aliases ?? []).join(" ");

    const launcher = [
      "set -e",
      'PATH="$PATH:/usr/sbin:/sbin"',
      'CHROOT="$(command -v chroot)"',
      ...["builds", "cache", "shared"].map(
        (sub) => `mount --bind ${quote(join(dir, sub))} ${quote(join(rootfs, dir, sub))}`,
      ),
      // What a container runtime gives every container: /dev basics and a /proc of the task's PID namespace.
      ...["null", "zero", "random", "urandom"].map(
        (dev) =>
          `: > ${quote(join(rootfs, "dev", dev))}; mount --bind /dev/${dev} ${quote(join(rootfs, "dev", dev))}`,
      ),
      `mount -t proc proc ${quote(join(rootfs, "proc"))}`,
      // The FIFO exists before the build loop starts, so it never waits for the agent.
      `mkfifo -m 0666 ${quote(join(shared, CONTROL_FIFO))}`,
      ...services,
      `env -i PATH=/bin HOME=/root SGR_SHARED=${quote(shared)} SGR_SERVICE_ALIASES=${quote(aliases)} "$CHROOT" ${quote(rootfs)} /bin/sh -c ${quote(BUILD_LOOP_SCRIPT)} >${quote(join(dir, "build.log"))} 2>&1 </dev/null &`,
      // The agent becomes the namespace's init: when it dies, every process of the task dies with it.
      `exec ${quote(this.options.agentBinary)}`,
    ].join("\n");
    await writeFile(join(dir, "task.sh"), launcher, { mode: 0o700 });

    const log = await open(join(dir, "task.log"), "a");
    const child = spawn(
      "unshare",
      [
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--propagation",
        "private",
        "sh",
        join(dir, "task.sh"),
      ],
      {
        detached: true,
        // A file, not a pipe: the task must outlive this daemon (restarts reattach) without writing into a void.
        stdio: ["ignore", log.fd, log.fd],
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          SGR_AGENT_SECRET: request.agentSecret,
          SGR_AGENT_HOST: "127.0.0.1",
          SGR_AGENT_PORT: "0",
          SGR_AGENT_PORT_FILE: join(dir, "agent.port"),
          SGR_SHARED: shared,
        },
      },
    );
    await log.close();
    child.unref();
    if (child.pid === undefined) throw new Error("could not start unshare for the local job task");
    await writeFile(join(dir, "task.pid"), `${child.pid}\n`);
    return { taskId, endpoint: await this.waitForAgent(taskId) };
  }

  /** The busybox-only "user image". The chroot runs as root: `docker.user` is not applied locally. */
  private async buildRootfs(rootfs: string): Promise<void> {
    const busybox = this.options.busybox ?? "/bin/busybox";
    for (const sub of ["bin", "etc", "tmp", "root", "dev", "proc"])
      await mkdir(join(rootfs, sub), { recursive: true, mode: 0o755 });
    await chmod(join(rootfs, "tmp"), 0o1777);
    await copyFile(busybox, join(rootfs, "bin", "busybox"));
    this.applets ??= spawnSync(busybox, ["--list"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((name) => /^[a-z0-9_.[-]+$/.test(name) && name !== "busybox");
    await Promise.all(this.applets.map((applet) => symlink("busybox", join(rootfs, "bin", applet))));
    await writeFile(join(rootfs, "etc", "hosts"), "127.0.0.1 localhost\n");
    await writeFile(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await writeFile(join(rootfs, "etc", "group"), "root:x:0:\n");
  }

  private async pidOf(taskId: string): Promise<number | undefined> {
    try {
      const text = await readFile(join(this.dirOf(taskId), "task.pid"), "utf8");
      return /^\d+\n$/.test(text) ? Number(text.trim()) : undefined;
    } catch {
      return undefined;
    }
  }

  private async waitForAgent(taskId: string): Promise<{ host: string; port: number }> {
    const dir = this.dirOf(taskId);
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      try {
        const text = await readFile(join(dir, "agent.port"), "utf8");
        if (/^\d+\n$/.test(text)) return { host: "127.0.0.1", port: Number(text.trim()) };
      } catch {
        // not listening yet
      }
      const pid = await this.pidOf(taskId);
      if (pid === undefined || !isAlive(pid)) {
        const log = await readFile(join(dir, "task.log"), "utf8").catch(() => "");
        throw new Error(
          `the local job task exited while starting${log ? `: ${log.trim().slice(-2000)}` : ""}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("the local job task's agent did not start listening in time");
  }

  async taskLogTail(taskId: string): Promise<string | undefined> {
    const log = await readFile(join(this.dirOf(taskId), "task.log"), "utf8").catch(() => "");
    return log.trim().split("\n").slice(-20).join("\n") || undefined;
  }

  async describeTask(taskId: string): Promise<TaskState> {
    const dir = this.dirOf(taskId);
    const pid = await this.pidOf(taskId);
    const alive = pid !== undefined && isAlive(pid) && !(await this.isZombie(pid));
    if (alive) {
      return existsSync(join(dir, "agent.port")) ? { state: "running" } : { state: "starting" };
    }
    const reason = await readFile(join(dir, "stopped-reason"), "utf8").catch(() => "");
    return { state: "stopped", reason: reason.trim() || "Essential container in task exited" };
  }

  private async isZombie(pid: number): Promise<boolean> {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
    } catch {
      return true;
    }
  }

  async stopTask(taskId: string, reason: string): Promise<void> {
    const dir = this.dirOf(taskId);
    await writeFile(join(dir, "stopped-reason"), `${reason}\n`).catch(() => {});
    await this.kill(taskId);
    // The task's files (checkout, cache, scripts) go with it; the small logs stay for debugging.
    await Promise.all(
      ["builds", "cache", "shared", "rootfs"].map((sub) =>
        rm(join(dir, sub), { recursive: true, force: true }),
      ),
    );
  }

  /**
   * Kills the task and waits until none of its processes is left. SIGKILL to unshare: --kill-child takes the
   * namespace's init, and with it every process of the task — asynchronously, so we wait for each member. If
   * unshare was already gone (the task stopped by itself), members are found by their root: the task's chroot.
   */
  private async kill(taskId: string): Promise<void> {
    const pid = await this.pidOf(taskId);
    const members = pid !== undefined && isAlive(pid) ? [pid, ...(await descendants(pid))] : [];
    if (pid !== undefined) signalAll([pid], "SIGKILL");
    const rootfs = join(this.dirOf(taskId), "rootfs");
    const deadline = Date.now() + 5000;
    for (;;) {
      const chrooted = await processesRootedIn(rootfs);
      signalAll(chrooted, "SIGKILL");
      const waiting = [...members, ...chrooted];
      const alive: number[] = [];
      for (const member of waiting) if (isAlive(member) && !(await this.isZombie(member))) alive.push(member);
      if (alive.length === 0 || Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Test hook: the task stops on its own, as ECS stops a task (e.g. a Spot interruption), with this reason. */
  async simulateStop(taskId: string, reason: string): Promise<void> {
    const dir = this.dirOf(taskId);
    await writeFile(join(dir, "stopped-reason"), `${reason}\n`);
    await this.kill(taskId);
  }
}
