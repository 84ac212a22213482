/**
 * `npm run images`: builds the manager and helper images here, from the production Dockerfiles unchanged, and
 * pushes them to the local registry as `<registry>/sgr/<image>:<hash>` and `:local`.
 *
 * 1. starts or reuses the local registry (127.0.0.1, scripts/containers/registry.ts);
 * 2. builds or reuses the stand-ins of the upstream images the Dockerfiles name (scripts/images/stand-ins.ts);
 * 3. builds each image with `podman build --network host` from the repository root, unless the registry already
 *    holds it under the hash of its inputs: the build context exactly as the CDK asset fingerprints it, the
 *    Dockerfile, and the stand-ins it is built from.
 *
 * `ensureImages()` is the same for tests and other tiers. amd64 only (the stand-ins are amd64).
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FileSystem } from "aws-cdk-lib";
import { HELPER_IMAGE, IMAGE_IGNORE_MODE, type ImageBuild, MANAGER_IMAGE } from "../../src/infra/images.js";
import { registryAddress, requireContainerTools } from "../containers/env.js";
import { ensureRegistry } from "../containers/registry.js";
import { toolsDir } from "../tools-dir.js";
import { withLock } from "./lock.js";
import { podman } from "./podman.js";
import { readManifest, tagManifest } from "./registry-api.js";
import { ensureStandIns, type StandIn } from "./stand-ins.js";

export type ProjectImage = "manager" | "helper";
const BUILDS: Record<ProjectImage, ImageBuild> = { manager: MANAGER_IMAGE, helper: HELPER_IMAGE };
/** The tag that always names the newest build. */
export const STABLE_TAG = "local";
export const PLATFORM = "linux/amd64";

export interface BuiltImages {
  /** `<registry>/sgr/manager:<hash>` */
  manager: string;
  /** `<registry>/sgr/helper:<hash>` */
  helper: string;
}

export interface ImagesReport extends BuiltImages {
  standIns: StandIn[];
  /** Which project images were built now (the others were reused from the registry). */
  built: ProjectImage[];
}

export interface EnsureImagesOptions {
  /** Stream build output (the CLI); otherwise it is kept and shown only when a build fails. */
  verbose?: boolean;
  log?: (line: string) => void;
}

export const repositoryOf = (image: ProjectImage) => `sgr/${image}`;

/** The inputs hash of an image: its build context as the CDK asset sees it, plus the stand-ins under it. */
export function imageInputsHash(image: ProjectImage, standIns: readonly StandIn[]): string {
  const build = BUILDS[image];
  return FileSystem.fingerprint(build.directory, {
    exclude: [...build.exclude],
    ignoreMode: IMAGE_IGNORE_MODE,
    extraHash: JSON.stringify({
      platform: PLATFORM,
      standIns: standIns.map((s) => [s.upstream, s.inputsHash]),
    }),
  }).slice(0, 32);
}

/**
 * Where this machine reaches the npm registry through a TLS-intercepting proxy, the build stages' `npm ci` must
 * trust the same CA. For the build only, a directory holding that CA and a global npmrc naming it is mounted over
 * `/usr/local/etc` (npm's global config directory for a Node in /usr/local; empty in the Debian images). Mounting
 * over a directory that exists leaves nothing behind in the layers (a new mount point would), so the Dockerfiles and
 * the images stay as they are. Nothing is mounted without such a CA. (Build-cache keys ignore mounts: a cached
 * layer built with other mounts would be reused as is, so every build here mounts the same way.)
 */
function buildTrustMounts(): string[] {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca || !existsSync(ca)) return [];
  const dir = join(toolsDir, "images", "build-trust");
  mkdirSync(dir, { recursive: true });
  copyFileSync(ca, join(dir, "build-ca.crt"));
  writeFileSync(join(dir, "npmrc"), "cafile=/usr/local/etc/build-ca.crt\n");
  return ["--volume", `${dir}:/usr/local/etc:ro`];
}

/**
 * Builds (or reuses) a project image, or one stage of its Dockerfile (`target`: pushed as `sgr/<image>-<target>`,
 * e.g. the helper's upstream parts alone, which the images benchmark weighs).
 */
export async function ensureProjectImage(
  image: ProjectImage,
  standIns: readonly StandIn[],
  options: EnsureImagesOptions,
  target?: string,
): Promise<{ reference: string; built: boolean }> {
  const repository = target ? `${repositoryOf(image)}-${target}` : repositoryOf(image);
  const hash = imageInputsHash(image, standIns);
  const reference = `${registryAddress}/${repository}:${hash}`;
  let built = false;
  if (!(await readManifest(repository, hash))) {
    options.log?.(`${image}: building ${reference}`);
    const build = BUILDS[image];
    await podman(
      [
        "build",
        "--network",
        "host",
        "--platform",
        PLATFORM,
        // Every FROM resolves through the registry, so a base is always the stand-in that was hashed.
        "--pull=always",
        ...buildTrustMounts(),
        "--ignorefile",
        join(build.directory, `${build.file}.dockerignore`),
        "-f",
        join(build.directory, build.file),
        ...(target ? ["--target", target] : []),
        "-t",
        reference,
        build.directory,
      ],
      { verbose: options.verbose },
    );
    await podman(["push", "--quiet", reference], { verbose: options.verbose });
    await untagSuperseded(repository, reference);
    built = true;
  }
  await tagManifest(repository, hash, STABLE_TAG);
  return { reference, built };
}

/** Drops this machine's local copies of older builds of the image (the registry keeps them). */
async function untagSuperseded(repository: string, current: string): Promise<void> {
  const listed = await podman([
    "images",
    "--format",
    "{{.Repository}}:{{.Tag}}",
    `${registryAddress}/${repository}`,
  ]);
  const older = listed.split("\n").filter((ref) => ref && ref !== current);
  // `untag <image> <name>` removes that one name (the same image may also carry the current one).
  for (const ref of older) await podman(["untag", ref, ref]).catch(() => undefined);
}

/** Builds (or reuses) the stand-ins and both images; resolves with the images' references in the local registry. */
export async function buildImages(options: EnsureImagesOptions = {}): Promise<ImagesReport> {
  requireContainerTools();
  await ensureRegistry();
  return withLock(join(toolsDir, "images", "build.lock"), async () => {
    const standIns = await ensureStandIns(options);
    const manager = await ensureProjectImage("manager", standIns, options);
    const helper = await ensureProjectImage("helper", standIns, options);
    const built = (["manager", "helper"] as const).filter((name) => ({ manager, helper })[name].built);
    return { manager: manager.reference, helper: helper.reference, standIns, built };
  });
}

/** The helper's `upstream` stage alone (base, packages, runner helper; no agent), for weighing what we add. */
export async function ensureHelperUpstream(standIns: readonly StandIn[]): Promise<string> {
  return withLock(join(toolsDir, "images", "build.lock"), async () => {
    return (await ensureProjectImage("helper", standIns, {}, "upstream")).reference;
  });
}

let ensured: Promise<BuiltImages> | undefined;
/** Both images in the local registry, built at most once per process (quietly): for tests and other tiers. */
export function ensureImages(): Promise<BuiltImages> {
  ensured ??= buildImages().then(({ manager, helper }) => ({ manager, helper }));
  return ensured;
}

async function main(): Promise<void> {
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[images] ${line}\n`);
  const verbose = process.argv.includes("--verbose");
  const report = await buildImages({ verbose, log });
  for (const standIn of report.standIns) {
    log(`${standIn.built ? "built " : "reused"} ${standIn.upstream} → ${standIn.reference}`);
  }
  for (const image of ["manager", "helper"] as const) {
    const state = report.built.includes(image) ? "built " : "reused";
    log(`${state} ${image} → ${report[image]} (also :${STABLE_TAG})`);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`images: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
