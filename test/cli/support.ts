/** Runs `sgr` in-process with captured output, against moto (global setup) and a GitLab simulator. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAwsClients } from "../../src/cli/clients.js";
import { runCli } from "../../src/cli/main.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function writeConfigFile(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "sgr-cli-"));
  const path = join(dir, "runner.json");
  writeFileSync(path, JSON.stringify(config));
  return path;
}

export async function sgr(argv: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    env: { ...process.env, GITLAB_TOKEN: undefined, ...env },
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    aws: createAwsClients,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
  });
  return { code, stdout, stderr };
}
