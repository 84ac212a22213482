/**
 * `npm run synth`: synthesizes the configuration deploy would use (`$SGR_CONFIG_FILE`, else config/runner.json;
 * the example when neither exists, said in one line) into cdk.out, runs the cdk-nag checks, and prints where each
 * template went instead of the template itself. Extra arguments go to `cdk synth` (e.g. `-c stackName=Staging`).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { PROJECT_ROOT } from "../src/infra/images.js";
import { synthConfigPath } from "../src/infra/user-config.js";

const OUT_DIR = "cdk.out";

const { path, fallback } = synthConfigPath(process.env, existsSync);
if (fallback) console.log(fallback);
const shown = relative(process.cwd(), path);
console.log(`synthesizing ${shown.startsWith("..") ? path : shown}`);

const started = Date.now();
const cdk = spawnSync(
  join(PROJECT_ROOT, "node_modules/.bin/cdk"),
  ["synth", "--quiet", "--output", OUT_DIR, "-c", `config=${path}`, ...process.argv.slice(2)],
  { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
);
const output = `${cdk.stdout ?? ""}${cdk.stderr ?? ""}`;
if (cdk.status !== 0) {
  // A failed synth (configuration error, cdk-nag finding) shows everything cdk said.
  process.stderr.write(output);
  process.exit(cdk.status ?? 1);
}
// Success: the bundling chatter stays out; warnings do not.
for (const line of output.split("\n")) if (/warning/i.test(line)) console.warn(line);

const templates = readdirSync(OUT_DIR)
  .filter((file) => file.endsWith(".template.json"))
  .map((file) => join(OUT_DIR, file))
  .filter((file) => statSync(file).mtimeMs >= started - 1000);
for (const template of templates) console.log(`template: ${template}`);
console.log(`cdk-nag findings, if any, are in ${join(OUT_DIR, "validation-report.json")}`);
