/**
 * The two container images, built by `cdk deploy` as Docker image assets. Synth only fingerprints the build
 * context (no Docker needed); the build happens when the assets are published. The build settings (context,
 * Dockerfile, what the context leaves out) are owned by the images: `src/manager/image-assets.ts`.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { IgnoreMode } from "aws-cdk-lib";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import type { Architecture } from "../config/index.js";
import { HELPER_IMAGE_ASSET, type ImageAssetSpec, MANAGER_IMAGE_ASSET } from "../manager/image-assets.js";

/** Root of the repository (the images compile our sources, so it is their build context). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

/** A Docker build: context directory, Dockerfile path relative to it, and what the context leaves out. */
export interface ImageBuild {
  directory: string;
  file: string;
  /** dockerignore-style lines: left out of the build context and of the asset fingerprint. */
  exclude: readonly string[];
}

function fromSpec(spec: ImageAssetSpec): ImageBuild {
  return {
    directory: resolve(PROJECT_ROOT, spec.directory),
    file: spec.file,
    // The context leaves the Dockerfile out (docker reads it separately), but the fingerprint must change with it.
    exclude: [...spec.exclude, `!${spec.file}`],
  };
}

export const MANAGER_IMAGE: ImageBuild = fromSpec(MANAGER_IMAGE_ASSET);
export const HELPER_IMAGE: ImageBuild = fromSpec(HELPER_IMAGE_ASSET);

/** dockerignore semantics for `exclude` (negations, `*` at the root), as `docker build` applies them. */
export const IMAGE_IGNORE_MODE = IgnoreMode.DOCKER;

export function dockerPlatform(architecture: Architecture): Platform {
  return architecture === "arm64" ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64;
}
