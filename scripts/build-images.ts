/**
 * Builds what the manager image copies in, into its staging tree:
 *   dist/images/manager/opt/sgr/…  manager entrypoint bundle + the driver (client executable, daemon bundle)
 * images/manager/Dockerfile runs this in its build stage, from the repository root, and copies the staging tree
 * into the final image as is. Also runnable by hand: `npx tsx scripts/build-images.ts`. (The helper image needs
 * no staging tree: its Go stage builds the agent with src/agent/build.sh.)
 *
 * The driver is built by its own script (scripts/build-driver.mjs → dist/driver); this script only places its
 * output where src/manager/paths.ts says the image expects it.
 */
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdir, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { BUNDLE_OPTIONS } from "../src/functions/catalog.js";
import { DRIVER_EXECUTABLE, MANAGER_BUNDLE, SGR_ROOT } from "../src/manager/paths.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** One ESM file with every dependency, like the Lambda bundles (same esbuild settings). */
export async function buildManagerBundle(outFile: string): Promise<void> {
  await build({
    ...BUNDLE_OPTIONS,
    mainFields: [...BUNDLE_OPTIONS.mainFields],
    banner: { js: BUNDLE_OPTIONS.banner },
    entryPoints: [join(repoRoot, "src/manager/main.ts")],
    outfile: outFile,
    logLevel: "warning",
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function place(from: string, to: string, mode?: number): Promise<void> {
  if (!(await exists(from))) throw new Error(`expected build output missing: ${from}`);
  await mkdir(dirname(to), { recursive: true });
  await cp(from, to);
  if (mode !== undefined) await chmod(to, mode);
}

export type ImageName = "manager";
export const IMAGE_NAMES: readonly ImageName[] = ["manager"];

/** Builds the staging tree of each image under `outDir` (default dist/images). */
export async function buildImages(
  images: readonly ImageName[] = IMAGE_NAMES,
  outDir = join(repoRoot, "dist/images"),
): Promise<void> {
  const driverBuild = join(repoRoot, "scripts/build-driver.mjs");
  if (!(await exists(driverBuild))) throw new Error(`the driver build script ${driverBuild} is missing`);
  execFileSync(process.execPath, [driverBuild, "--no-agent"], {
    cwd: repoRoot,
    stdio: "inherit",
  });

  for (const image of images) await rm(join(outDir, image), { recursive: true, force: true });
  if (images.includes("manager")) {
    const manager = join(outDir, "manager");
    await buildManagerBundle(join(manager, MANAGER_BUNDLE));
    // The driver client finds its daemon next to itself unless SGR_DRIVER_DAEMON says otherwise (src/driver/README.md).
    await place(join(repoRoot, "dist/driver/sgr-driver"), join(manager, DRIVER_EXECUTABLE), 0o755);
    await place(
      join(repoRoot, "dist/driver/daemon.mjs"),
      join(manager, dirname(DRIVER_EXECUTABLE), "daemon.mjs"),
    );
  }
  process.stdout.write(`image staging trees (${images.join(", ")}) in ${outDir}, each holding ${SGR_ROOT}\n`);
}

/** `build-images.ts [--image manager] [outDir]` */
function parseArgs(argv: string[]): { images: ImageName[]; outDir: string | undefined } {
  const images: ImageName[] = [];
  let outDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--image") {
      const name = argv[++i];
      if (!IMAGE_NAMES.includes(name as ImageName))
        throw new Error(`--image must be one of ${IMAGE_NAMES.join(", ")}`);
      images.push(name as ImageName);
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown option ${arg}`);
    } else {
      outDir = resolve(arg);
    }
  }
  return { images: images.length > 0 ? images : [...IMAGE_NAMES], outDir };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  Promise.resolve()
    .then(() => parseArgs(process.argv.slice(2)))
    .then(({ images, outDir }) => buildImages(images, outDir))
    .catch((err: unknown) => {
      process.stderr.write(`build-images: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
