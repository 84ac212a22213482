/**
 * Sizes of the two images as the local registry stores them (`npm run images` builds them first, or reuses them):
 * compressed = the gzip layers as pushed (what an ECS task pulls), uncompressed = those layers gunzipped, and the
 * layer count. The helper is pulled by every job task, so it is split into what it needs from upstream (the Debian
 * base, ca-certificates, git, git-lfs and the runner's helper binary: the Dockerfile's `upstream` stage, built
 * alone) and what we add (every layer of the helper that the upstream stage does not have: the agent), against the
 * goal of ≤ 10 MB compressed of our own. Also: the helper container's start to its agent listening.
 */
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { createGunzip } from "node:zlib";
import { registryAddress } from "../scripts/containers/env.js";
import { buildImages, ensureHelperUpstream } from "../scripts/images/build.js";
import { podman, run as runCommand } from "../scripts/images/podman.js";
import { type ImageManifest, parseReference, readManifest } from "../scripts/images/registry-api.js";
import { AGENT_CHANNEL_PORT } from "../src/config/ports.js";
import { AGENT_EXECUTABLE } from "../src/manager/paths.js";
import { type BenchRow, type BenchSuite, median } from "./types.js";

interface ImageSize {
  compressed: number;
  uncompressed: number;
  layers: number;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
/** Our additions to the helper, compressed. */
const OURS_GOAL_BYTES = 10e6;
const START_RUNS = 5;

/** Streams one layer blob through gunzip and counts the bytes. */
async function uncompressedSize(repository: string, digest: string): Promise<number> {
  const res = await fetch(`http://${registryAddress}/v2/${repository}/blobs/${digest}`);
  if (!res.ok || !res.body) throw new Error(`registry: blob ${digest}: HTTP ${res.status}`);
  const gunzip = createGunzip();
  let total = 0;
  gunzip.on("data", (chunk: Buffer) => {
    total += chunk.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    gunzip.on("end", resolve);
    gunzip.on("error", reject);
  });
  for await (const chunk of res.body)
    if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once("drain", r));
  gunzip.end();
  await done;
  return total;
}

async function manifestOf(reference: string): Promise<{ repository: string; manifest: ImageManifest }> {
  const { repository, tag } = parseReference(reference);
  const stored = await readManifest(repository, tag);
  if (!stored) throw new Error(`the registry does not hold ${reference}`);
  return { repository, manifest: stored.manifest };
}

async function sizeOfLayers(repository: string, layers: ImageManifest["layers"]): Promise<ImageSize> {
  let uncompressed = 0;
  for (const layer of layers) uncompressed += await uncompressedSize(repository, layer.digest);
  return {
    compressed: layers.reduce((sum, layer) => sum + layer.size, 0),
    uncompressed,
    layers: layers.length,
  };
}

async function sizeOf(reference: string): Promise<ImageSize> {
  const { repository, manifest } = await manifestOf(reference);
  return sizeOfLayers(repository, manifest.layers);
}

const sizeText = (size: ImageSize) => `${mb(size.compressed)} / ${mb(size.uncompressed)} / ${size.layers}`;

export interface StartTimes {
  /** `podman run` called → the agent accepts a TCP connection on its port (the container runtime included). */
  runToListening: number;
  /**
   * The agent executed → its "listening" log line: the entrypoint's shell logs a line and execs the agent, and
   * podman's log timestamps of the two lines are subtracted (the agent's own start, without the runtime's).
   */
  execToListening: number;
}

const EXEC_MARK = "sgr-bench: exec";

/** podman's timestamp of the first log line holding `text`, as wall-clock ms. */
function loggedAt(log: string, text: string): number {
  const line = log.split("\n").find((l) => l.includes(text));
  if (!line) throw new Error(`no "${text}" line in the container's log`);
  return Date.parse(line.split(" ")[0]!.replace(/(\.\d{3})\d+/, "$1"));
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ host, port }, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on("error", () => resolve(false));
  });
}

/**
 * Starts the helper image a few times on the host network, each on a loopback address of its own, as a job task's
 * helper container starts: how long until its agent listens (see StartTimes).
 */
export async function helperStartTimes(image: string, runs = START_RUNS): Promise<StartTimes[]> {
  const times: StartTimes[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `sgr-bench-helper-${randomBytes(4).toString("hex")}`;
    const host = `127.0.0.${100 + Math.floor(Math.random() * 150)}`;
    const env = { SGR_AGENT_SECRET: randomBytes(32).toString("hex") };
    const options = ["--network", "host", "--env", "SGR_AGENT_SECRET", "--env", `SGR_AGENT_HOST=${host}`];
    const command = ["-c", `echo '${EXEC_MARK}' >&2; exec ${AGENT_EXECUTABLE}`];
    try {
      const called = performance.now();
      const run = podman(
        ["run", "-d", "--name", name, ...options, "--entrypoint", "/bin/sh", image, ...command],
        { env },
      );
      const deadline = called + 30_000;
      while (!(await accepts(host, AGENT_CHANNEL_PORT))) {
        if (performance.now() > deadline) throw new Error(`${image}: the agent did not listen within 30 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      const runToListening = performance.now() - called;
      await run;
      // The agent logs to stderr, which `podman logs` replays on its own stderr; it logs just after it listens.
      let log = "";
      while (!log.includes("listening on port")) {
        if (performance.now() > deadline) throw new Error(`${image}: the agent did not log "listening"`);
        log = await runCommand("sh", ["-c", `podman logs --timestamps ${name} 2>&1`]);
      }
      times.push({
        runToListening,
        execToListening: loggedAt(log, "listening on port") - loggedAt(log, EXEC_MARK),
      });
    } finally {
      await podman(["rm", "--force", "--time", "0", name]).catch(() => undefined);
    }
  }
  return times;
}

const ms = (values: number[]) =>
  `${median(values).toFixed(0)} ms (runs: ${values.map((t) => t.toFixed(0)).join(", ")})`;

const suite: BenchSuite = {
  name: "images",
  async run(): Promise<BenchRow[]> {
    const started = Date.now();
    const report = await buildImages();
    const upstreamImage = await ensureHelperUpstream(report.standIns);
    const rows: BenchRow[] = [
      {
        metric: "npm run images (this run)",
        value: `${((Date.now() - started) / 1000).toFixed(1)} s, built: ${report.built.join(", ") || "nothing (reused)"}`,
      },
    ];
    const standIn = (prefix: string) => report.standIns.find((s) => s.upstream.startsWith(prefix))!.reference;
    for (const [label, reference] of [
      ["manager", report.manager],
      ["node bookworm-slim stand-in (base of the manager)", standIn("node:")],
      ["helper", report.helper],
    ] as const) {
      rows.push({
        metric: `${label}: compressed / uncompressed / layers`,
        value: sizeText(await sizeOf(reference)),
      });
    }

    // The helper, split: upstream parts (its `upstream` stage) and ours (the layers that stage does not have).
    const helper = await manifestOf(report.helper);
    const upstream = await manifestOf(upstreamImage);
    const base = await manifestOf(standIn("debian:"));
    const upstreamDigests = new Set(upstream.manifest.layers.map((l) => l.digest));
    const baseDigests = new Set(base.manifest.layers.map((l) => l.digest));
    const ours = helper.manifest.layers.filter((l) => !upstreamDigests.has(l.digest));
    const added = upstream.manifest.layers.filter((l) => !baseDigests.has(l.digest));
    const [packages, ...runnerHelper] = added;
    const parts: Array<[string, ImageSize]> = [
      ["debian bookworm-slim stand-in", await sizeOfLayers(base.repository, base.manifest.layers)],
      [
        "+ ca-certificates, git, git-lfs (apt)",
        await sizeOfLayers(upstream.repository, packages ? [packages] : []),
      ],
      ["+ gitlab-runner helper binary", await sizeOfLayers(upstream.repository, runnerHelper)],
      ["= total", await sizeOfLayers(upstream.repository, upstream.manifest.layers)],
    ];
    for (const [label, size] of parts)
      rows.push({
        metric: `helper, upstream parts: ${label} (compressed / uncompressed / layers)`,
        value: sizeText(size),
      });
    const oursSize = await sizeOfLayers(helper.repository, ours);
    const met = oursSize.compressed <= OURS_GOAL_BYTES;
    rows.push({
      metric: "helper, ours (the agent) over the upstream parts: compressed / uncompressed / layers",
      value: `${sizeText(oursSize)} → ${met ? "PASS" : "MISS"}`,
      goal: `≤ ${mb(OURS_GOAL_BYTES)} compressed`,
      met,
    });

    const starts = await helperStartTimes(report.helper);
    rows.push(
      {
        metric: `helper: podman run → agent accepts on its port (median of ${starts.length})`,
        value: ms(starts.map((t) => t.runToListening)),
      },
      {
        metric: `helper: agent exec → "listening" logged (median of ${starts.length})`,
        value: ms(starts.map((t) => t.execToListening)),
      },
    );
    return rows;
  },
};

export default suite;
