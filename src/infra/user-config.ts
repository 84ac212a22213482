/**
 * Where the CDK app finds the user's configuration file, and its validation. Kept apart from the app entry
 * so it is unit-testable without synthesizing anything.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Config, ConfigError, parseConfig } from "../config/index.js";

/** CDK context key: `npx cdk deploy -c config=path/to/runner.json`. */
export const CONFIG_CONTEXT_KEY = "config";
/** Environment variable naming the configuration file when no context value is given. */
export const CONFIG_FILE_ENV = "SGR_CONFIG_FILE";
/** File used when neither is given, relative to the working directory. */
export const DEFAULT_CONFIG_FILE = "config/runner.json";
/** How a `cdk` command line names the file; each caller of loadUserConfig says it in its own syntax. */
export const CDK_CONFIG_OPTION = `-c ${CONFIG_CONTEXT_KEY}=<file>`;

/** A validated configuration together with the input it came from (functions get the compact input). */
export interface LoadedConfig {
  path: string;
  /** The user's JSON as written: what SGR_CONFIG carries (smaller than the defaulted form; Lambda env is capped at 4 KB). */
  input: unknown;
  config: Config;
}

/** Chooses the configuration file: context value, then environment, then the default. */
export function resolveConfigPath(contextValue: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (contextValue !== undefined && contextValue !== null && contextValue !== "") {
    if (typeof contextValue !== "string") {
      throw new ConfigError(`context '${CONFIG_CONTEXT_KEY}' must be a file path`, [
        `${CONFIG_CONTEXT_KEY}: not a string`,
      ]);
    }
    return resolve(contextValue);
  }
  const fromEnv = env[CONFIG_FILE_ENV];
  return resolve(fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_CONFIG_FILE);
}

/** The configuration example shipped with the project: what `npm run synth` falls back to. */
export const EXAMPLE_CONFIG_FILE = "config/example.json";

/**
 * The file `npm run synth` synthesizes: the one deploy would use ($SGR_CONFIG_FILE, else config/runner.json), else,
 * when neither exists, the example, so a fresh clone can synth before writing its own; `fallback` says why.
 */
export function synthConfigPath(
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean,
): { path: string; fallback?: string } {
  const deployed = resolveConfigPath(undefined, env);
  if (env[CONFIG_FILE_ENV] || exists(deployed)) return { path: deployed };
  return {
    path: resolve(EXAMPLE_CONFIG_FILE),
    fallback:
      `no ${DEFAULT_CONFIG_FILE} (and ${CONFIG_FILE_ENV} unset): synthesizing ${EXAMPLE_CONFIG_FILE} instead; ` +
      `copy it to ${DEFAULT_CONFIG_FILE} and edit it to synthesize what you will deploy`,
  };
}

/**
 * Reads and validates the file; every error names the file and, for schema errors, each failing field.
 * `fileOption` is how the caller's own command line names another file (`-c config=<file>` for cdk,
 * `--config <file>` for sgr), for the hint when the file is missing.
 */
export function loadUserConfig(path: string, fileOption: string = CDK_CONFIG_OPTION): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const hint = `create it (see config/example.json), or pass ${fileOption}, or set ${CONFIG_FILE_ENV}=<file>`;
    throw new ConfigError(`cannot read configuration file ${path}: ${(err as Error).message}; ${hint}`, [
      `${path}: unreadable`,
    ]);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`configuration file ${path} is not valid JSON: ${(err as Error).message}`, [
      `${path}: not JSON`,
    ]);
  }
  return { path, input, config: parseConfig(input, path) };
}
