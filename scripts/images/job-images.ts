/**
 * Job images: what jobs name in `image:` and `services:` in the end-to-end tier, built here as stand-ins for common
 * CI images (under their upstream names where faithful: `busybox:…`, `redis:…`, `postgres:…`) or as test images of
 * our own under `sgr-test/` (a property to exercise, no upstream counterpart). Each recipe is a directory under
 * images/job-images/ (its Containerfile and the files it copies), built on the Debian stand-in and pushed to the
 * local registry, which mirrors docker.io: a job's `image: busybox:1.35` resolves to it. Cached like the
 * stand-ins: rebuilt only when the hash of the recipe's files (and of its base) changes. What differs from
 * upstream: images/README.md.
 */
import { cp, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { requireContainerTools } from "../containers/env.js";
import { ensureRegistry } from "../containers/registry.js";
import { toolsDir } from "../tools-dir.js";
import { withLock } from "./lock.js";
import { repoRoot } from "./pins.js";
import { run } from "./podman.js";
import { debianBase, type StandIn, StandInBuilder, type StandInOptions, sha256 } from "./stand-ins.js";

/** The images a job can name, by the property each has; values are the names a job writes in `image:`. */
export const JOB_IMAGES = {
  /** Debian-based, root, bash and apt (the existing stand-in). */
  debian: "debian:bookworm-slim",
  /** Busybox only: `sh` and the applets, nothing else (no bash, no package manager). */
  busybox: "busybox:1.35",
  /** `USER 1001` (a non-root uid with its own group). */
  nonRoot: "sgr-test/non-root:1",
  /** ENTRYPOINT `sgr-tool`, which refuses anything but its own commands (needs `entrypoint: [""]`). */
  entrypoint: "sgr-test/entrypoint:1",
  /** FROM scratch and one static binary: no shell at all. */
  noShell: "sgr-test/no-shell:1",
  /** redis-server on 6379 (Debian's 7.0). */
  redis: "redis:7-bookworm",
  /** PostgreSQL 15 on 5432 (Debian's), POSTGRES_PASSWORD/POSTGRES_USER/POSTGRES_DB. */
  postgres: "postgres:15-bookworm",
  /** The Docker CLI (Debian's docker.io, 20.10.24): the image of a Docker-in-Docker job. */
  docker: "docker:20.10.24",
  /** dockerd 20.10.24 as the dind service (needs a privileged container: ECS Managed Instances). */
  dind: "docker:20.10.24-dind",
} as const;

export type JobImageName = keyof typeof JOB_IMAGES;

/** The recipe directory under images/job-images/ of each image built here (debian is the base stand-in). */
const RECIPES: Record<Exclude<JobImageName, "debian">, string> = {
  busybox: "busybox",
  nonRoot: "non-root",
  entrypoint: "entrypoint",
  noShell: "no-shell",
  redis: "redis",
  postgres: "postgres",
  docker: "docker",
  dind: "docker-dind",
};

/** Recipes built on another job image rather than on the Debian stand-in (as upstream's dind is FROM docker). */
const BUILT_ON: Partial<Record<keyof typeof RECIPES, keyof typeof RECIPES>> = { dind: "docker" };

/**
 * The variable the service stand-ins bind to (default 127.0.0.1): the task's private address. Tasks share the host
 * network here, so a server that would listen on every interface on Fargate listens on its task's address; the
 * product's agent and build container reach the task's services there too.
 */
export { TASK_ADDRESS_ENV } from "../../src/driver/backends/build-loop.js";

export interface JobImage {
  /** As a job names it (`image:`), resolved through the registry's docker.io mirror. */
  name: string;
  /** Where it lives in the local registry. */
  reference: string;
  /** Whether it was built now. */
  built: boolean;
}

export type JobImages = Record<JobImageName, JobImage>;

const recipesDir = join(repoRoot, "images/job-images");
const contextsDir = join(toolsDir, "images", "job-images");

/** Every file of a recipe directory, names and contents, in a stable order. */
async function recipeDigest(dir: string): Promise<string> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
  const parts: string[] = [];
  for (const name of names) parts.push(name, (await readFile(join(dir, name))).toString("base64"));
  return sha256(...parts);
}

/** The no-shell image's one binary: main.go built static, small and reproducible with the Go on this machine. */
async function buildHello(context: string): Promise<void> {
  await run("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", "sgr-hello", "."], {
    cwd: context,
    env: { CGO_ENABLED: "0", GOOS: "linux", GOARCH: "amd64", GOFLAGS: "-mod=mod" },
  });
}

async function ensureJobImage(
  b: StandInBuilder,
  base: StandIn,
  key: Exclude<JobImageName, "debian">,
): Promise<JobImage & { standIn: StandIn }> {
  const recipe = join(recipesDir, RECIPES[key]);
  const extra = key === "noShell" ? await run("go", ["version"]) : "";
  const inputs = sha256("job-image", key, await recipeDigest(recipe), base.inputsHash, extra);
  const standIn = await b.ensure(JOB_IMAGES[key], inputs, async (reference) => {
    const context = join(contextsDir, RECIPES[key]);
    await rm(context, { recursive: true, force: true });
    await mkdir(contextsDir, { recursive: true });
    await cp(recipe, context, { recursive: true });
    if (key === "noShell") await buildHello(context);
    await b.buildFrom(join(context, "Containerfile"), context, reference, inputs, {
      BASE: await b.pinned(base),
    });
  });
  return { name: JOB_IMAGES[key], reference: standIn.reference, built: standIn.built, standIn };
}

/** Builds (or reuses) every job image; one build at a time per machine, shared with `npm run images`. */
export async function buildJobImages(options: StandInOptions = {}): Promise<JobImages> {
  requireContainerTools();
  await ensureRegistry();
  return withLock(join(toolsDir, "images", "build.lock"), async () => {
    const b = new StandInBuilder(options);
    const base = await debianBase(b);
    const images: Partial<JobImages> = {
      debian: { name: JOB_IMAGES.debian, reference: base.reference, built: base.built },
    };
    const standIns: Partial<Record<keyof typeof RECIPES, StandIn>> = {};
    // In RECIPES' order, so an image another is built on comes first.
    for (const key of Object.keys(RECIPES) as (keyof typeof RECIPES)[]) {
      const on = BUILT_ON[key];
      const { standIn, ...image } = await ensureJobImage(b, on ? standIns[on]! : base, key);
      standIns[key] = standIn;
      images[key] = image;
    }
    return images as JobImages;
  });
}

let ensured: Promise<JobImages> | undefined;
/** Every job image in the local registry, built at most once per process (quietly): for the end-to-end tier. */
export function ensureJobImages(): Promise<JobImages> {
  ensured ??= buildJobImages();
  return ensured;
}

async function main(): Promise<void> {
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[job-images] ${line}\n`);
  const images = await buildJobImages({ verbose: process.argv.includes("--verbose"), log });
  for (const image of Object.values(images))
    log(`${image.built ? "built " : "reused"} ${image.name} → ${image.reference}`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`job-images: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
