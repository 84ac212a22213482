/**
 * How the CDK app builds the two images as Docker image assets. Both build from the REPOSITORY ROOT (the manager's
 * build stage compiles src/ with the repo's lockfile, the helper's builds the Go agent in src/agent), with the
 * Dockerfile under images/. Each context is narrowed to what its Dockerfile copies, so node_modules, cdk.out and the rest neither slow the build nor change the asset
 * hash. The same lines are in images/<name>/Dockerfile.dockerignore for plain `docker build` (BuildKit reads a
 * `<Dockerfile>.dockerignore` beside the Dockerfile); a test keeps both in step.
 *
 * Use (src/infra): `ContainerImage.fromAsset(repoRoot, { file: MANAGER_IMAGE_ASSET.file,
 *   exclude: [...MANAGER_IMAGE_ASSET.exclude], ignoreMode: IgnoreMode.DOCKER, platform: Platform.LINUX_ARM64 })`,
 * the platform following `runners[].manager.architecture`; the helper once per job architecture.
 */

/** dockerignore lines of the manager: ignore everything, then let back in what the build stage needs. */
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

/** dockerignore lines of the helper: the agent's Go sources and build script only (a TS change rebuilds nothing). */
export const HELPER_BUILD_CONTEXT_EXCLUDE: readonly string[] = [
  "*",
  "!src/agent",
  "src/agent/*_test.go",
  "src/agent/*.test.ts",
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
  exclude: HELPER_BUILD_CONTEXT_EXCLUDE,
};
