/**
 * Sizes of the two images as the local registry stores them (`npm run images` builds them first, or reuses them):
 * compressed = the gzip layers as pushed (what an ECS task pulls), uncompressed = those layers gunzipped, and the
 * layer count. The helper is pulled by every job task, so it is split into what it needs from upstream (the Debian
 * base, ca-certificates, git, git-lfs and the runner's helper binary: the Dockerfile's `upstream` stage, built
 * alone) and what we add (every layer of the helper that the upstream stage does not have: the agent), against the
 * goal of ≤ 10 MB compressed of our own. Also: the helper container's start to its agent listening.
 */
import { randomBytes } from "node:crypto";
import { createGunzip } from "node:zlib";
import { registryAddress } from "../scripts/containers/env.js";
import { buildImages, ensureHelperUpstream } from "../scripts/images/build.js";
import { podman, run } from "../scripts/images/podman.js";
import { type ImageManifest, parseReference, readManifest } from "../scripts/images/registry-api.js";
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

/**
 * From the container's start (podman's StartedAt) to the agent's "listening" log line (its timestamp as podman
 * recorded it), on the host network at a loopback address of its own: the median of a few starts.
 */
export async function helperStartToListening(image: string, runs = START_RUNS): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `sgr-bench-helper-${randomBytes(4).toString("hex")}`;
    const secret = randomBytes(32).toString("hex");
    const env = { SGR_AGENT_SECRET: secret };
    try {
      await podman(
        [
          "run",
          "-d",
          "--name",
          name,
          "--network",
          "host",
          "--env",
          "SGR_AGENT_SECRET",
          "--env",
          `SGR_AGENT_HOST=127.0.0.${100 + Math.floor(Math.random() * 150)}`,
          "--env",
          "SGR_AGENT_PORT=0",
          image,
        ],
        { env },
      );
      const deadline = Date.now() + 30_000;
      let line: string | undefined;
      while (!line) {
        if (Date.now() > deadline) throw new Error(`${image}: the agent did not log "listening" within 30 s`);
        // The agent logs to stderr, which `podman logs` replays on its own stderr.
        line = (await run("sh", ["-c", `podman logs --timestamps ${name} 2>&1`]))
          .split("\n")
          .find((l) => l.includes("listening on port"));
        if (!line) await new Promise((r) => setTimeout(r, 20));
      }
      const started = BigInt(await podman(["inspect", "--format", "{{.State.StartedAt.UnixNano}}", name]));
      times.push(
        Number(BigInt(Date.parse(line.split(" ")[0]!.replace(/(\.\d{3})\d+/, "$1"))) * 1_000_000n - started) /
          1e6,
      );
    } finally {
      await podman(["rm", "--force", "--time", "0", name]).catch(() => undefined);
    }
  }
  return times;
}

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

    const startTimes = await helperStartToListening(report.helper);
    rows.push({
      metric: `helper: container start → agent listening (median of ${startTimes.length})`,
      value: `${median(startTimes).toFixed(0)} ms (runs: ${startTimes.map((t) => t.toFixed(0)).join(", ")})`,
    });
    return rows;
  },
};

export default suite;
