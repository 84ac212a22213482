/**
 * The example pipelines use only per-job values the driver accepts as they are (no WARNING line, no clamping
 * surprise), and each shows what examples/README.md says it shows.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  parseArchitecture,
  parseCapacity,
  parseCpu,
  parseMemoryMiB,
  parseStorageGiB,
} from "../../src/driver/sizing.js";

const ROOT = join(import.meta.dirname, "../..");
const DIR = join(ROOT, "examples");
/** Pipelines: `examples/*.gitlab-ci.yml` and `examples/<name>/.gitlab-ci.yml` (an example with its own files). */
const files = readdirSync(DIR, { withFileTypes: true })
  .flatMap((entry) =>
    entry.isDirectory()
      ? readdirSync(join(DIR, entry.name))
          .filter((f) => f === ".gitlab-ci.yml")
          .map((f) => `${entry.name}/${f}`)
      : [entry.name],
  )
  .filter((f) => f.endsWith(".gitlab-ci.yml"));
/** CI templates users `include:`; their sizing variables must be valid as well. */
const templates = readdirSync(join(ROOT, "templates")).map((f) => `../templates/${f}`);
const PARSERS: Record<string, (value: string) => unknown> = {
  SGR_CPU: parseCpu,
  SGR_MEMORY: parseMemoryMiB,
  SGR_EPHEMERAL_STORAGE: parseStorageGiB,
  SGR_CAPACITY: parseCapacity,
  SGR_ARCH: parseArchitecture,
};

describe("examples/*.gitlab-ci.yml", () => {
  it("are the files the README lists", () => {
    const readme = readFileSync(join(DIR, "README.md"), "utf8");
    expect(files.sort()).toEqual([
      "basic.gitlab-ci.yml",
      "image-build/.gitlab-ci.yml",
      "services.gitlab-ci.yml",
      "sizing.gitlab-ci.yml",
    ]);
    for (const file of files) expect(readme).toContain(`\`${file}\``);
  });

  it.each([...files, ...templates])("%s: every SGR_* variable has a value the driver accepts", (file) => {
    const text = readFileSync(join(DIR, file), "utf8");
    const settings = [...text.matchAll(/^\s+(SGR_[A-Z_]+):\s*"?([^"\s#]+)"?/gm)].map(
      (m) => [m[1]!, m[2]!] as const,
    );
    for (const [name, value] of settings) {
      const parse = PARSERS[name];
      expect(parse, `${file}: unknown variable ${name}`).toBeDefined();
      expect(parse!(value), `${file}: ${name}=${value}`).not.toBeUndefined();
    }
  });

  it("include templates that exist and extend jobs those templates define", () => {
    for (const file of files) {
      const text = readFileSync(join(DIR, file), "utf8");
      const included = [...text.matchAll(/^\s+file:\s*"?([^"\s#]+)"?/gm)].map((m) => m[1]!);
      const defined = included.flatMap((template) => {
        const body = readFileSync(join(ROOT, template), "utf8");
        return [...body.matchAll(/^(\.[\w-]+):$/gm)].map((m) => m[1]!);
      });
      for (const [, job] of text.matchAll(/^\s+extends:\s*(\S+)/gm)) expect(defined, file).toContain(job);
    }
  });

  it("together use image:, services:, per-job sizing, cache and artifacts, and target the runner's tags", () => {
    const all = files.map((f) => readFileSync(join(DIR, f), "utf8")).join("\n");
    for (const key of [
      "image:",
      "services:",
      "SGR_CPU:",
      "SGR_MEMORY:",
      "cache:",
      "artifacts:",
      "tags: [fargate]",
    ]) {
      expect(all).toContain(key);
    }
    expect(all).not.toMatch(/docker:dind|docker build/);
  });
});
