import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BUILD_LOOP_SCRIPT, HOSTS_WARNING_PREFIX, TASK_ADDRESS_ENV } from "./build-loop.js";
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from "./frames.js";
import { allocOutputFrame, splitOutputParts } from "./protocol.js";
import { createSelfSignedCertificate } from "./self-signed.js";
import { waitForPorts } from "./server.js";
import { StepRunner } from "./steps.js";

describe("frames", () => {
  it("decodes frames split and joined at any byte boundary", () => {
    const frames = [encodeFrame(1, "hello"), encodeFrame(3, Buffer.alloc(70_000, 7)), encodeFrame(2, "")];
    const all = Buffer.concat(frames);
    for (const cut of [1, 3, 5, 6, 4000, all.length - 1]) {
      const decoder = new FrameDecoder();
      const got = [...decoder.push(all.subarray(0, cut)), ...decoder.push(all.subarray(cut))];
      expect(got.map((f) => [f.type, f.payload.length])).toEqual([
        [1, 5],
        [3, 70_000],
        [2, 0],
      ]);
    }
  });
  it("refuses absurd lengths", () => {
    const header = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
    expect(() => new FrameDecoder().push(header)).toThrow(/exceeds/);
  });
  it("carries the step id with output bytes, however the payload was split", () => {
    const frame = allocOutputFrame("3-build_script", 6);
    Buffer.from("abcdef").copy(frame.buffer, frame.dataOffset);
    const payload = frame.finish(6).subarray(FRAME_HEADER_BYTES);
    for (const cuts of [[], [1], [5], [15], [15, 17], [3, 16, 18]]) {
      const parts: Buffer[] = [];
      let from = 0;
      for (const cut of [...cuts, payload.length]) {
        parts.push(payload.subarray(from, cut));
        from = cut;
      }
      const { stepId, data } = splitOutputParts(parts);
      expect(stepId).toBe("3-build_script");
      expect(Buffer.concat(data).toString()).toBe("abcdef");
      expect(data.every((piece) => piece.length > 0)).toBe(true);
    }
  });
});

describe("self-signed certificate", () => {
  it("is a valid, self-verifying X.509 certificate", () => {
    const { cert } = createSelfSignedCertificate("sgr-agent", 1);
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe("CN=sgr-agent");
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(new Date(x509.validTo).getTime()).toBeGreaterThan(Date.now());
  });
});

describe("build loop + step runner", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("runs build steps through the FIFO with only a POSIX shell, and stops one on request", async () => {
    const shared = mkdtempSync(join(tmpdir(), "sgr-loop-"));
    dirs.push(shared);
    const runner = new StepRunner({ sharedDir: shared, helperShell: "/bin/sh" });
    await runner.init();
    const loop = spawn("/bin/sh", ["-c", BUILD_LOOP_SCRIPT], {
      env: { PATH: "/usr/bin:/bin", SGR_SHARED: shared },
    });
    try {
      const ok = await runner.start("1-build_script", "build", "echo out; echo err >&2; exit 3");
      while (ok.exitCode === undefined) if (!(await ok.changed())) await runner.refresh(ok);
      expect(ok.exitCode).toBe(3);
      expect(readFileSync(ok.outPath, "utf8")).toBe("out\nerr\n");

      const long = await runner.start("2-build_script", "build", "sleep 30");
      const started = performance.now();
      await new Promise((r) => setTimeout(r, 200));
      await runner.stop("2-build_script");
      while (long.exitCode === undefined) if (!(await long.changed())) await runner.refresh(long);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(long.exitCode).toBe(143); // 128 + SIGTERM

      expect(runner.unreleased).toBe(2);
      await runner.release("1-build_script");
      expect(() => readFileSync(ok.outPath)).toThrow();
      await runner.release("2-build_script");
      // What a stopping agent waits for before it exits: every result collected.
      expect(runner.unreleased).toBe(0);
    } finally {
      loop.kill("SIGKILL");
      await runner.close();
    }
  });

  it("waits for a build loop that is not reading the FIFO yet (it starts after the helper)", async () => {
    const shared = mkdtempSync(join(tmpdir(), "sgr-late-loop-"));
    dirs.push(shared);
    const runner = new StepRunner({ sharedDir: shared, helperShell: "/bin/sh" });
    await runner.init();
    let loop: ReturnType<typeof spawn> | undefined;
    const lateStart = setTimeout(() => {
      loop = spawn("/bin/sh", ["-c", BUILD_LOOP_SCRIPT], {
        env: { PATH: "/usr/bin:/bin", SGR_SHARED: shared },
      });
    }, 300);
    try {
      const step = await runner.start("1-build_script", "build", "echo late");
      while (step.exitCode === undefined) if (!(await step.changed())) await runner.refresh(step);
      expect(step.exitCode).toBe(0);
      expect(readFileSync(step.outPath, "utf8")).toBe("late\n");
    } finally {
      clearTimeout(lateStart);
      loop?.kill("SIGKILL");
      await runner.close();
    }
  });

  it("adds service aliases to the hosts file, or warns once in the job log when the image's user cannot", async () => {
    const shared = mkdtempSync(join(tmpdir(), "sgr-hosts-"));
    dirs.push(shared);
    const runner = new StepRunner({ sharedDir: shared, helperShell: "/bin/sh" });
    await runner.init();
    const hostsFile = join(shared, "hosts");
    writeFileSync(hostsFile, "");
    const runLoop = async (hosts: string, ids: string[], env: Record<string, string> = {}) => {
      const loop = spawn("/bin/sh", ["-c", BUILD_LOOP_SCRIPT], {
        env: {
          PATH: "/usr/bin:/bin",
          SGR_SHARED: shared,
          SGR_SERVICE_ALIASES: "db cache",
          SGR_HOSTS_FILE: hosts,
          ...env,
        },
      });
      try {
        const outputs: string[] = [];
        for (const id of ids) {
          const step = await runner.start(id, "build", "echo ran");
          while (step.exitCode === undefined) if (!(await step.changed())) await runner.refresh(step);
          outputs.push(readFileSync(step.outPath, "utf8"));
        }
        return outputs;
      } finally {
        loop.kill("SIGKILL");
      }
    };
    try {
      expect(await runLoop(hostsFile, ["1-build_script"])).toEqual(["ran\n"]);
      expect(readFileSync(hostsFile, "utf8")).toBe("127.0.0.1 db cache\n");
      // A task on an address of its own (tasks sharing a host's network): the aliases name that address.
      writeFileSync(hostsFile, "");
      await runLoop(hostsFile, ["4-build_script"], { [TASK_ADDRESS_ENV]: "127.0.0.9" });
      expect(readFileSync(hostsFile, "utf8")).toBe("127.0.0.9 db cache\n");
      const [first, second] = await runLoop(join(shared, "missing-dir", "hosts"), [
        "2-build_script",
        "3-after_script",
      ]);
      expect(first).toMatch(
        new RegExp(
          `^${HOSTS_WARNING_PREFIX} .*hosts is not writable by this image's user; service aliases \\(db cache\\) do not resolve\\. Reach services at 127\\.0\\.0\\.1, .*\nran\n$`,
        ),
      );
      expect(second).toBe("ran\n");
    } finally {
      await runner.close();
    }
  });

  it("opens the builds volume to every user and runs helper steps with umask 0000, for non-root job images", async () => {
    const shared = mkdtempSync(join(tmpdir(), "sgr-umask-"));
    const builds = mkdtempSync(join(tmpdir(), "sgr-builds-"));
    dirs.push(shared, builds);
    chmodSync(builds, 0o755);
    const runner = new StepRunner({ sharedDir: shared, helperShell: "/bin/sh", writableDirs: [builds] });
    await runner.init();
    expect(statSync(builds).mode & 0o777).toBe(0o777);
    const step = await runner.start(
      "1-get_sources",
      "helper",
      `mkdir ${builds}/project && echo x > ${builds}/project/file`,
    );
    while (step.exitCode === undefined) await step.changed();
    expect(step.exitCode).toBe(0);
    expect(statSync(join(builds, "project")).mode & 0o777).toBe(0o777);
    expect(statSync(join(builds, "project", "file")).mode & 0o777).toBe(0o666);
    await runner.close();
  });

  it("runs helper steps as processes and starting a step twice runs it once", async () => {
    const shared = mkdtempSync(join(tmpdir(), "sgr-helper-"));
    dirs.push(shared);
    const runner = new StepRunner({ sharedDir: shared, helperShell: "/bin/sh" });
    await runner.init();
    const script = `echo once >> ${shared}/counter; echo done`;
    const first = await runner.start("1-get_sources", "helper", script);
    const again = await runner.start("1-get_sources", "helper", script);
    expect(again).toBe(first);
    while (first.exitCode === undefined) await first.changed();
    expect(first.exitCode).toBe(0);
    expect(readFileSync(first.outPath, "utf8")).toBe("done\n");
    expect(readFileSync(join(shared, "counter"), "utf8")).toBe("once\n");
    await runner.close();
  });
});

describe("service readiness", () => {
  it("probes the task's address, not localhost, where the task has an address of its own", async () => {
    const service = createServer((socket) => socket.end()).listen(0, "127.0.0.9");
    await once(service, "listening");
    const { port } = service.address() as AddressInfo;
    try {
      expect(await waitForPorts([port], 5_000, "127.0.0.9")).toEqual({ ready: [port], notReady: [] });
      // Another task's service on the same port is not this task's.
      expect(await waitForPorts([port], 300)).toEqual({ ready: [], notReady: [port] });
    } finally {
      service.close();
    }
  });
});
