/**
 * The local registry's v2 API, read directly: whether a tag exists, an image's layers as stored (their compressed
 * sizes), its configuration (labels), and tagging by manifest copy (no pull, no push of layers).
 */
import { registryAddress } from "../containers/env.js";

const MANIFEST_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface ImageManifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface StoredManifest {
  manifest: ImageManifest;
  /** The manifest's own bytes and media type, to store it again under another tag. */
  raw: string;
  mediaType: string;
  digest: string;
}

/** `<registry>/<repository>:<tag>` split into repository and tag (the registry part must be the local one). */
export function parseReference(reference: string): { repository: string; tag: string } {
  const prefix = `${registryAddress}/`;
  if (!reference.startsWith(prefix))
    throw new Error(`${reference} is not in the local registry ${registryAddress}`);
  const rest = reference.slice(prefix.length);
  const colon = rest.lastIndexOf(":");
  if (colon < 0) throw new Error(`${reference} has no tag`);
  return { repository: rest.slice(0, colon), tag: rest.slice(colon + 1) };
}

const url = (path: string) => `http://${registryAddress}/v2/${path}`;

/** The manifest of `repository:tag`, or undefined when the registry does not hold it. */
export async function readManifest(repository: string, tag: string): Promise<StoredManifest | undefined> {
  const res = await fetch(url(`${repository}/manifests/${tag}`), {
    headers: { accept: MANIFEST_TYPES.join(", ") },
  });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`registry: manifest ${repository}:${tag}: HTTP ${res.status}`);
  const raw = await res.text();
  const mediaType = res.headers.get("content-type") ?? MANIFEST_TYPES[0]!;
  const manifest = JSON.parse(raw) as ImageManifest;
  if (!Array.isArray(manifest.layers))
    throw new Error(`registry: ${repository}:${tag} is not a single image`);
  return { manifest, raw, mediaType, digest: res.headers.get("docker-content-digest") ?? "" };
}

/** An image's configuration (labels, user, entrypoint, architecture). */
export async function readImageConfig(repository: string, manifest: ImageManifest): Promise<ImageConfig> {
  const res = await fetch(url(`${repository}/blobs/${manifest.config.digest}`));
  if (!res.ok) throw new Error(`registry: config of ${repository}: HTTP ${res.status}`);
  return (await res.json()) as ImageConfig;
}

export interface ImageConfig {
  architecture: string;
  config: {
    User?: string;
    Labels?: Record<string, string>;
    Entrypoint?: string[];
    Env?: string[];
    WorkingDir?: string;
    StopSignal?: string;
  };
  rootfs: { diff_ids: string[] };
}

/** The label a stand-in or project image carries its input hash in. */
export const INPUTS_LABEL = "org.serverless-gitlab-runner.inputs";

/** Whether the registry holds `repository:tag` built from these inputs (its label says so). */
export async function holdsInputs(repository: string, tag: string, inputsHash: string): Promise<boolean> {
  const stored = await readManifest(repository, tag);
  if (!stored) return false;
  const config = await readImageConfig(repository, stored.manifest);
  return config.config.Labels?.[INPUTS_LABEL] === inputsHash;
}

/** Stores the manifest of `repository:from` under `repository:to` as well (a tag; the layers are shared). */
export async function tagManifest(repository: string, from: string, to: string): Promise<void> {
  const stored = await readManifest(repository, from);
  if (!stored) throw new Error(`registry: ${repository}:${from} does not exist`);
  const res = await fetch(url(`${repository}/manifests/${to}`), {
    method: "PUT",
    headers: { "content-type": stored.mediaType },
    body: stored.raw,
  });
  if (!res.ok)
    throw new Error(`registry: tagging ${repository}:${to}: HTTP ${res.status} ${await res.text()}`);
}
