/**
 * The source tree's layering: the folders at the bottom (configuration, GitLab, observability, the job event, the
 * state table, Fargate) never import the ones that run them (webhook, control plane, manager, driver, agent, CLI,
 * infrastructure), folders import each other without cycles, and no module imports itself back through others.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

/** Lower imports nothing above it; a folder of one rank may import folders of lower ranks only. */
const RANK: Record<string, number> = {
  config: 0,
  gitlab: 0,
  events: 0,
  observability: 1,
  state: 2,
  fargate: 2,
};
const TOP_RANK = 3;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** Relative imports (static, re-exports and dynamic) of a file, as absolute .ts paths inside src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map(
    (m) => m[1]!,
  );
  return specifiers
    .map((spec) => resolve(dirname(file), spec).replace(/\.js$/, ".ts"))
    .filter((target) => target.startsWith(`${SRC}/`));
}

const folderOf = (file: string) => relative(SRC, file).split("/")[0]!;
const rankOf = (folder: string) => RANK[folder] ?? TOP_RANK;

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe("source layering", () => {
  it("finds the tree it checks", () => {
    expect(files.length).toBeGreaterThan(100);
    expect([...graph.values()].flat().length).toBeGreaterThan(200);
  });

  it("never imports a folder that stands above the importer", () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (to !== from && rankOf(to) > rankOf(from))
          upward.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
        if (to !== from && rankOf(from) < TOP_RANK && rankOf(to) === rankOf(from)) {
          upward.push(`${relative(SRC, file)} → ${relative(SRC, target)} (same layer)`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it("has no cycle between folders", () => {
    const edges = new Map<string, Set<string>>();
    for (const [file, targets] of graph) {
      for (const target of targets) {
        const from = folderOf(file);
        const to = folderOf(target);
        if (from !== to) edges.set(from, (edges.get(from) ?? new Set()).add(to));
      }
    }
    expect(cycles(edges)).toEqual([]);
  });

  it("has no import cycle between modules", () => {
    const edges = new Map([...graph].map(([file, targets]) => [file, new Set(targets)]));
    expect(cycles(edges).map((cycle) => cycle.map((file) => relative(SRC, file)))).toEqual([]);
  });

  it("would see a cycle and an upward import (control)", () => {
    expect(
      cycles(
        new Map([
          ["a", new Set(["b"])],
          ["b", new Set(["a"])],
        ]),
      ),
    ).toEqual([["a", "b", "a"]]);
    expect(rankOf("state") > rankOf("config") && rankOf("driver") > rankOf("state")).toBe(true);
  });
});

/** Every cycle found by a depth-first search (one per back edge). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    path.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, "done");
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node);
  return found;
}
