import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../config/index.js";
import { PROJECT_ROOT } from "./images.js";
import {
  CONFIG_FILE_ENV,
  DEFAULT_CONFIG_FILE,
  loadUserConfig,
  resolveConfigPath,
  synthConfigPath,
} from "./user-config.js";

function writeTemp(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "sgr-config-")), name);
  writeFileSync(path, text);
  return path;
}

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("which configuration file the CDK app reads", () => {
  it("prefers the -c config context, then SGR_CONFIG_FILE, then config/runner.json", () => {
    expect(resolveConfigPath("a.json", { [CONFIG_FILE_ENV]: "b.json" })).toBe(resolve("a.json"));
    expect(resolveConfigPath(undefined, { [CONFIG_FILE_ENV]: "b.json" })).toBe(resolve("b.json"));
    expect(resolveConfigPath("", {})).toBe(resolve(DEFAULT_CONFIG_FILE));
  });

  it("synthesizes the file deploy uses, else the example with a line saying so", () => {
    const none = () => false;
    expect(synthConfigPath({}, (p) => p === resolve(DEFAULT_CONFIG_FILE))).toEqual({
      path: resolve(DEFAULT_CONFIG_FILE),
    });
    // An explicit file is used even when missing: loading it then says so, rather than synthesizing another.
    expect(synthConfigPath({ [CONFIG_FILE_ENV]: "mine.json" }, none)).toEqual({ path: resolve("mine.json") });
    const fallback = synthConfigPath({}, none);
    expect(fallback.path).toBe(resolve("config/example.json"));
    expect(fallback.fallback).toMatch(/no config\/runner\.json .*synthesizing config\/example\.json instead/);
  });

  it("refuses a context value that is not a path", () => {
    expect(configErrorOf(() => resolveConfigPath(42, {})).message).toMatch(
      /context 'config' must be a file path/,
    );
  });
});

describe("loading the configuration file", () => {
  it("returns the input as written and the validated configuration with defaults", () => {
    const input = { gitlab: { url: "https://gitlab.example.com/" }, runners: [{ name: "ci", tags: ["x"] }] };
    const loaded = loadUserConfig(writeTemp("ok.json", JSON.stringify(input)));
    expect(loaded.input).toEqual(input);
    expect(loaded.config.gitlab.url).toBe("https://gitlab.example.com");
    expect(loaded.config.runners[0]!.manager.cpu).toBe(512);
  });

  it("names the file when it is missing or not JSON", () => {
    expect(configErrorOf(() => loadUserConfig("/nonexistent/runner.json")).message).toMatch(
      /cannot read configuration file \/nonexistent\/runner\.json.*config\/example\.json/,
    );
    // Each caller names the file in its own command line's syntax.
    expect(configErrorOf(() => loadUserConfig("/nonexistent/runner.json")).message).toContain(
      "pass -c config=<file>, or set SGR_CONFIG_FILE=<file>",
    );
    const fromSgr = configErrorOf(() => loadUserConfig("/nonexistent/runner.json", "--config <file>"));
    expect(fromSgr.message).toContain("pass --config <file>, or set SGR_CONFIG_FILE=<file>");
    expect(fromSgr.message).not.toContain("-c config=");
    expect(configErrorOf(() => loadUserConfig(writeTemp("bad.json", "{ nope"))).message).toMatch(
      /is not valid JSON/,
    );
  });

  it("names each failing field", () => {
    const path = writeTemp(
      "fields.json",
      JSON.stringify({ gitlab: { url: "ftp://x" }, runners: [{ name: "A" }] }),
    );
    const error = configErrorOf(() => loadUserConfig(path));
    expect(error.message).toContain(path);
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^gitlab\.url: /),
        expect.stringMatching(/^runners\.0\.name: /),
      ]),
    );
  });

  it("ships example configurations that validate", () => {
    const examples = readdirSync(join(PROJECT_ROOT, "config")).filter((file) => file.endsWith(".json"));
    expect(examples).toContain("example.json");
    for (const file of examples) {
      const input: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, "config", file), "utf8"));
      expect(() => parseConfig(input, file)).not.toThrow();
    }
  });
});
