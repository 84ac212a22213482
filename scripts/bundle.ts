/**
 * Bundles every Lambda in src/functions/catalog.ts with the shared BUNDLE_OPTIONS into
 * dist/functions/<name>/index.mjs (the same esbuild settings the CDK app uses). Functions whose handler
 * file does not exist yet are skipped and listed. Run: `npm run build` (tsx scripts/bundle.ts).
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { BUNDLE_OPTIONS, FUNCTIONS, type FunctionName } from "../src/functions/catalog.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DIST_FUNCTIONS = join(ROOT, "dist", "functions");

export type BundleResult =
  | { name: FunctionName; status: "built"; outfile: string; bytes: number }
  | { name: FunctionName; status: "skipped"; reason: string };

/** The esbuild form of the shared options (CDK takes `banner` as a string, esbuild as `{ js }`). */
function esbuildOptions() {
  const { banner, mainFields, ...rest } = BUNDLE_OPTIONS;
  return { ...rest, mainFields: [...mainFields], banner: { js: banner }, logLevel: "warning" as const };
}

export async function bundleFunctions(
  outDir: string = DIST_FUNCTIONS,
  only?: readonly FunctionName[],
): Promise<BundleResult[]> {
  const results: BundleResult[] = [];
  for (const [name, entry] of Object.entries(FUNCTIONS) as [FunctionName, string][]) {
    if (only && !only.includes(name)) continue;
    const entryPath = join(ROOT, entry);
    if (!existsSync(entryPath)) {
      results.push({ name, status: "skipped", reason: `${entry} does not exist yet` });
      continue;
    }
    const outfile = join(outDir, name, "index.mjs");
    await build({ ...esbuildOptions(), entryPoints: [entryPath], outfile, absWorkingDir: ROOT });
    results.push({ name, status: "built", outfile, bytes: statSync(outfile).size });
  }
  return results;
}

async function main(): Promise<void> {
  const results = await bundleFunctions();
  for (const result of results) {
    if (result.status === "built") {
      console.log(
        `built   ${result.name.padEnd(12)} ${(result.bytes / 1024).toFixed(1).padStart(8)} KiB  ${result.outfile}`,
      );
    } else {
      console.log(`skipped ${result.name.padEnd(12)} ${result.reason}`);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
