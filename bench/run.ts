/**
 * `npm run bench [-- <name filter>]`: runs every `bench/*.bench.ts` (each default-exports a BenchSuite,
 * see bench/types.ts) one after the other in this process and prints all figures side by side.
 * Add a benchmark by dropping a new `<name>.bench.ts` file here.
 */
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchRow, BenchSuite } from "./types.js";

const benchDir = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];

async function main(): Promise<void> {
  const files = readdirSync(benchDir)
    .filter((file) => file.endsWith(".bench.ts"))
    .filter((file) => !filter || file.includes(filter))
    .sort();
  if (files.length === 0) throw new Error(`no bench/*.bench.ts matches ${filter ?? "(all)"}`);
  const table: (BenchRow & { suite: string })[] = [];
  for (const file of files) {
    const suite = (await import(pathToFileURL(join(benchDir, file)).href)).default as BenchSuite;
    console.error(`running ${suite.name} (${file}) …`);
    try {
      for (const row of await suite.run()) table.push({ suite: suite.name, ...row });
    } catch (error) {
      // One broken suite must not hide the others' figures.
      console.error(error);
      table.push({
        suite: suite.name,
        metric: "(suite failed)",
        value: String((error as Error).message).slice(0, 120),
      });
      process.exitCode = 1;
    }
  }
  const columns = ["suite", "metric", "value", "goal", "met"] as const;
  const cell = (row: (typeof table)[number], column: (typeof columns)[number]) =>
    column === "met" ? (row.met === undefined ? "" : row.met ? "yes" : "NO") : (row[column] ?? "");
  const widths = columns.map((c) => Math.max(c.length, ...table.map((r) => cell(r, c).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ");
  console.log(line([...columns]));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of table) console.log(line(columns.map((c) => cell(row, c))));
  // A missed goal is reported ("NO"), not an error: figures on a shared machine vary with its load.
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
