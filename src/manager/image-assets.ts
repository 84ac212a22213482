/**
 * How the CDK app builds the two images as Docker image assets. Both build from the REPOSITORY ROOT (their build
 * stage compiles src/ with the repo's lockfile), with the Dockerfile under images/. The context is narrowed to
 * what the Dockerfiles copy, so node_modules, cdk.out and the rest neither slow the build nor change the asset
 * hash. The same lines are in images/<name>/Dockerfile.dockerignore for plain `docker build` (BuildKit reads a
 * `<Dockerfile>.dockerignore` beside the Dockerfile); a test keeps both in step.
 *
 * Use (src/infra): `ContainerImage.fromAsset(repoRoot, { file: MANAGER_IMAGE_ASSET.file,
 *   exclude: [...MANAGER_IMAGE_ASSET.exclude], ignoreMode: IgnoreMode.DOCKER, platform: Platform.LINUX_ARM64 })`,
 * the platform following `runners[].manager.architecture`; the helper once per job architecture.
 */

/** dockerignore lines: ignore everything, then let back in what the build stage needs. */
export const IMAGE_BUILD_CONTEXT_EXCLUDE: readonly string[] = [
  "*",
  "!package.json",
  "!package-lock.json",
  "!tsconfig.json",
  "!src",
  "!scripts",
  "src/**/*.test.ts",
  "src/**/__snapshots__",
];

export interface ImageAssetSpec {
  /** Build context, relative to the repository root. */
  directory: ".";
  /** Dockerfile, relative to the build context. */
  file: string;
  exclude: readonly string[];
}

export const MANAGER_IMAGE_ASSET: ImageAssetSpec = {
  directory: ".",
  file: "images/manager/Dockerfile",
  exclude: IMAGE_BUILD_CONTEXT_EXCLUDE,
};

export const HELPER_IMAGE_ASSET: ImageAssetSpec = {
  directory: ".",
  file: "images/helper/Dockerfile",
  exclude: IMAGE_BUILD_CONTEXT_EXCLUDE,
};
