import type * as z from "zod";
import { type Resources, resourcesSchema } from "./resources.js";
import { type Config, configSchema } from "./schema.js";

/** Name of the environment variable that carries the configuration JSON to functions and tasks. */
export const CONFIG_ENV = "SGR_CONFIG";
/** Name of the environment variable that carries the deployed resource identifiers. */
export const RESOURCES_ENV = "SGR_RESOURCES";

/** Raised for configuration that does not validate; `message` names every failing field. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly string[],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

function formatIssues(source: string, error: z.ZodError): ConfigError {
  const issues = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)";
    return `${path}: ${issue.message}`;
  });
  return new ConfigError(`invalid ${source}:\n  ${issues.join("\n  ")}`, issues);
}

function parseJson(source: string, text: string | undefined): unknown {
  if (text === undefined || text.trim() === "")
    throw new ConfigError(`${source} is not set`, [`${source}: missing`]);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source} is not valid JSON: ${(err as Error).message}`, [`${source}: not JSON`]);
  }
}

/** Validates a configuration object, applying defaults. Throws ConfigError naming each bad field. */
export function parseConfig(input: unknown, source = "configuration"): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) throw formatIssues(source, result.error);
  return result.data;
}

export function parseResources(input: unknown, source = "resources"): Resources {
  const result = resourcesSchema.safeParse(input);
  if (!result.success) throw formatIssues(source, result.error);
  return result.data;
}

/** Reads and validates the configuration from the environment (functions, manager, driver). */
export function loadConfigFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(parseJson(CONFIG_ENV, env[CONFIG_ENV]), CONFIG_ENV);
}

export function loadResourcesFromEnv(env: NodeJS.ProcessEnv = process.env): Resources {
  return parseResources(parseJson(RESOURCES_ENV, env[RESOURCES_ENV]), RESOURCES_ENV);
}
