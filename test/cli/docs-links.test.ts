/** The operator docs link to files that exist (a renamed doc would otherwise leave dead links). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const DOCS = [
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(ROOT, "docs", f)),
  join(ROOT, "examples/README.md"),
];

describe("operator docs", () => {
  it.each(DOCS.map((d) => [d.slice(ROOT.length + 1), d]))("%s: relative links resolve", (_name, path) => {
    const text = readFileSync(path, "utf8");
    const targets = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
    for (const target of targets.filter((t) => !/^[a-z]+:/.test(t))) {
      expect(existsSync(resolve(dirname(path), target)), `${path} → ${target}`).toBe(true);
    }
  });

  it("the quickstart links every operator doc, including the per-job variables", () => {
    const quickstart = readFileSync(join(ROOT, "docs/quickstart.md"), "utf8");
    for (const doc of [
      "cli.md",
      "configuration.md",
      "job-variables.md",
      "limitations.md",
      "troubleshooting.md",
      "cost-model.md",
      "security.md",
      "metrics.md",
      "architecture.md",
    ]) {
      expect(quickstart).toContain(`](${doc})`);
    }
  });
});

describe("README, for a newcomer", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");

  it("says what the test tools cost and where they go, as the installer and the tests find them", () => {
    const installer = readFileSync(join(ROOT, "scripts/install-test-tools.sh"), "utf8");
    const [, variable, defaultDir] = /TOOLS_DIR="\$\{(\w+):-\$HOME\/([^}]+)\}"/.exec(installer) ?? [];
    expect(variable).toBeDefined();
    expect(readme).toContain(`\`~/${defaultDir}\` (or \`$${variable}\`)`);
    expect(readme).toMatch(/setup:test-tools` takes about \d+ minutes and about \d+ GB of disk/);
    expect(readme).toContain("Go's module cache");
    expect(readme).toMatch(/`EBADENGINE` warnings: expected/);
  });
});
