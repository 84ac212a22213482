/**
 * Sizes of the two images as the local registry stores them (`npm run images` builds them first, or reuses them):
 * compressed = the gzip layers as pushed (what an ECS task pulls), uncompressed = those layers gunzipped, and the
 * layer count. The helper is pulled by every job task, so it is shown beside the runner helper stand-in (the
 * gitlab-runner binary alone) and the Node base it is built on.
 */
import { createGunzip } from "node:zlib";
import { registryAddress } from "../scripts/containers/env.js";
import { buildImages } from "../scripts/images/build.js";
import { type ImageManifest, parseReference, readManifest } from "../scripts/images/registry-api.js";
import type { BenchRow, BenchSuite } from "./types.js";

interface ImageSize {
  compressed: number;
  uncompressed: number;
  layers: number;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

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

async function sizeOf(reference: string): Promise<ImageSize> {
  const { repository, tag } = parseReference(reference);
  const stored = await readManifest(repository, tag);
  if (!stored) throw new Error(`the registry does not hold ${reference}`);
  const manifest: ImageManifest = stored.manifest;
  let uncompressed = 0;
  for (const layer of manifest.layers) uncompressed += await uncompressedSize(repository, layer.digest);
  return {
    compressed: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
    uncompressed,
    layers: manifest.layers.length,
  };
}

const suite: BenchSuite = {
  name: "images",
  async run(): Promise<BenchRow[]> {
    const started = Date.now();
    const report = await buildImages();
    const rows: BenchRow[] = [
      {
        metric: "npm run images (this run)",
        value: `${((Date.now() - started) / 1000).toFixed(1)} s, built: ${report.built.join(", ") || "nothing (reused)"}`,
      },
    ];
    const standIn = (prefix: string) => report.standIns.find((s) => s.upstream.startsWith(prefix))!.reference;
    const measured = new Map<string, ImageSize>();
    const entries: Array<[string, string]> = [
      ["manager", report.manager],
      ["helper", report.helper],
      ["gitlab-runner-helper stand-in (binary only)", standIn("gitlab/gitlab-runner-helper:x86_64")],
      ["node bookworm-slim stand-in (base of both)", standIn("node:")],
    ];
    for (const [label, reference] of entries) {
      const size = await sizeOf(reference);
      measured.set(label, size);
      rows.push({
        metric: `${label}: compressed / uncompressed / layers`,
        value: `${mb(size.compressed)} / ${mb(size.uncompressed)} / ${size.layers}`,
      });
    }
    const helper = measured.get("helper")!;
    const runnerHelper = measured.get(entries[2]![0])!;
    rows.push({
      metric: "helper over the gitlab-runner-helper binary (compressed, pulled by every job task)",
      value: `+${mb(helper.compressed - runnerHelper.compressed)} (×${(helper.compressed / runnerHelper.compressed).toFixed(1)})`,
    });
    return rows;
  },
};

export default suite;
