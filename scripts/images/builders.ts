/**
 * Image builders a job can run on Fargate (no privileges, Docker's default capabilities and seccomp profile), built
 * here as stand-ins under the names users pull them by, and pushed to the local registry, which mirrors docker.io,
 * quay.io and cgr.dev (scripts/containers/env.ts). Binaries come from the Go module proxy at pinned versions, the
 * rest from the Debian stand-in and Debian's packages. Cached like the other stand-ins: rebuilt only when the hash
 * of the recipe, the pins and the base changes. What differs from upstream: images/README.md; which of them build
 * under Fargate's rules: docs/limitations.md (test/builders/).
 *
 *   npx tsx scripts/images/builders.ts [--verbose]
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { chmod, cp, mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { requireContainerTools } from "../containers/env.js";
import { ensureRegistry } from "../containers/registry.js";
import { toolsDir } from "../tools-dir.js";
import { withLock } from "./lock.js";
import { repoRoot } from "./pins.js";
import { podman, run } from "./podman.js";
import { INPUTS_LABEL } from "./registry-api.js";
import { debianBase, type StandIn, StandInBuilder, type StandInOptions, sha256 } from "./stand-ins.js";

/** A Go command built from the module proxy: the module, its version and the package paths inside it. */
interface GoCommand {
  module: string;
  version: string;
  packages: readonly string[];
}

/** kaniko was archived by its authors in 2025; this is a maintained fork served by the Go module proxy. */
export const KANIKO = {
  module: "github.com/chainguard-dev/kaniko",
  version: "v1.25.6",
  packages: ["./cmd/executor"],
} as const satisfies GoCommand;
/** The ECR credential helper the kaniko images ship beside the executor (pushes with the task role). */
export const ECR_LOGIN = {
  module: "github.com/awslabs/amazon-ecr-credential-helper/ecr-login",
  version: "v0.11.0",
  packages: ["./cli/docker-credential-ecr-login"],
} as const satisfies GoCommand;
export const BUILDKIT = {
  module: "github.com/moby/buildkit",
  version: "v0.34.2",
  packages: ["./cmd/buildkitd", "./cmd/buildctl"],
} as const satisfies GoCommand;

/** The builder images by the names users pull them by. */
export const BUILDER_IMAGES = {
  kaniko: `cgr.dev/chainguard/kaniko:${KANIKO.version.slice(1)}-debug`,
  buildkit: `moby/buildkit:${BUILDKIT.version}-rootless`,
  /** Debian bookworm's buildah (the version its package carries). */
  buildah: "quay.io/buildah/stable:v1.28.2",
} as const;
export type Builder = keyof typeof BUILDER_IMAGES;

const buildersDir = join(toolsDir, "images", "builders");
const recipePath = (name: string) => join(repoRoot, "images/stand-ins", `${name}.Containerfile`);

/**
 * Builds a Go command statically (CGO off) from the module proxy into a cached directory; returns the binaries'
 * paths. Built inside the downloaded module, so its go.mod (replace directives included) applies as upstream's does.
 */
async function goCommand(command: GoCommand, verbose?: boolean): Promise<string[]> {
  const name = command.module.split("/").at(-1)!;
  const out = join(buildersDir, "bin", `${name}-${command.version}`);
  const binaries = command.packages.map((p) => join(out, p.split("/").at(-1)!));
  const stamp = join(out, ".stamp");
  const wanted = JSON.stringify(command);
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === wanted && binaries.every((b) => existsSync(b)))
    return binaries;
  const info = JSON.parse(
    await run("go", ["mod", "download", "-json", `${command.module}@${command.version}`], {
      cwd: buildersDir,
    }),
  ) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${command.module}: ${info.Error ?? "no directory"}`);
  const source = join(buildersDir, "src", `${name}-${command.version}`);
  await rm(source, { recursive: true, force: true });
  await cp(info.Dir, source, { recursive: true });
  await run("chmod", ["-R", "u+w", source]);
  await mkdir(out, { recursive: true });
  const env = { CGO_ENABLED: "0", GOOS: "linux", GOARCH: "amd64", GOFLAGS: "-mod=mod" };
  for (const pkg of command.packages) {
    await run("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", `${out}/`, pkg], {
      cwd: source,
      env,
      verbose,
    });
  }
  await rm(source, { recursive: true, force: true });
  writeFileSync(stamp, wanted);
  return binaries;
}

async function buildRecipe(
  recipeName: string,
  context: string,
  reference: string,
  inputsHash: string,
  buildArgs: Record<string, string>,
  verbose?: boolean,
): Promise<void> {
  const args = ["build", "--network", "host", "--pull=missing", "--platform", "linux/amd64"];
  for (const [name, value] of Object.entries(buildArgs)) args.push("--build-arg", `${name}=${value}`);
  args.push(
    "--label",
    `${INPUTS_LABEL}=${inputsHash}`,
    "-t",
    reference,
    "-f",
    recipePath(recipeName),
    context,
  );
  await podman(args, { verbose });
}

/** A build context holding exactly these files, for a recipe that copies them. */
async function contextWith(name: string, files: readonly string[]): Promise<string> {
  const context = join(buildersDir, "context", name);
  await rm(context, { recursive: true, force: true });
  await mkdir(context, { recursive: true });
  for (const file of files) {
    const target = join(context, file.split("/").at(-1)!);
    await cp(file, target);
    await chmod(target, 0o755);
  }
  return context;
}

type Make = (b: StandInBuilder, base: StandIn, verbose?: boolean) => Promise<StandIn>;

const MAKERS: Record<Builder, Make> = {
  async kaniko(b, base, verbose) {
    const binaries = [...(await goCommand(KANIKO, verbose)), ...(await goCommand(ECR_LOGIN, verbose))];
    const recipe = readFileSync(recipePath("kaniko"), "utf8");
    const inputs = sha256("kaniko", recipe, base.inputsHash, JSON.stringify([KANIKO, ECR_LOGIN]));
    return b.ensure(BUILDER_IMAGES.kaniko, inputs, async (reference) => {
      const context = await contextWith("kaniko", binaries);
      const args = { BASE: await b.pinned(base), KANIKO_VERSION: KANIKO.version };
      await buildRecipe("kaniko", context, reference, inputs, args, verbose);
    });
  },
  async buildkit(b, base, verbose) {
    const binaries = await goCommand(BUILDKIT, verbose);
    const recipe = readFileSync(recipePath("buildkit"), "utf8");
    const inputs = sha256("buildkit", recipe, base.inputsHash, JSON.stringify(BUILDKIT));
    return b.ensure(BUILDER_IMAGES.buildkit, inputs, async (reference) => {
      const context = await contextWith("buildkit", binaries);
      const args = { BASE: await b.pinned(base), BUILDKIT_VERSION: BUILDKIT.version };
      await buildRecipe("buildkit", context, reference, inputs, args, verbose);
    });
  },
  async buildah(b, base, verbose) {
    const recipe = readFileSync(recipePath("buildah"), "utf8");
    const inputs = sha256("buildah", recipe, base.inputsHash);
    return b.ensure(BUILDER_IMAGES.buildah, inputs, async (reference) => {
      const context = await contextWith("buildah", []);
      await buildRecipe("buildah", context, reference, inputs, { BASE: await b.pinned(base) }, verbose);
    });
  },
};

/** Builds (or reuses) the named builder images on the Debian stand-in; resolves with them in that order. */
export async function ensureBuilders(
  builders: readonly Builder[] = Object.keys(BUILDER_IMAGES) as Builder[],
  options: StandInOptions = {},
): Promise<StandIn[]> {
  requireContainerTools();
  await ensureRegistry();
  await mkdir(buildersDir, { recursive: true });
  return withLock(join(toolsDir, "images", "build.lock"), async () => {
    const b = new StandInBuilder(options);
    const base = await debianBase(b);
    const images: StandIn[] = [];
    for (const builder of builders) images.push(await MAKERS[builder](b, base, options.verbose));
    return images;
  });
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[builders] ${line}\n`);
  const started = Date.now();
  const images = await ensureBuilders(undefined, { verbose: process.argv.includes("--verbose"), log });
  for (const image of images)
    log(`${image.built ? "built " : "reused"} ${image.upstream} → ${image.reference}`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`builders: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
