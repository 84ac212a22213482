/** docs/configuration.md is generated from the schema; this fails when someone changes one without the other. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { REFERENCE_PATH, renderConfigReference, SCHEMA_SOURCE } from "../../scripts/gen-config-reference.js";
import { configSchema } from "../../src/config/schema.js";

describe("configuration reference", () => {
  it("is up to date with src/config/schema.ts (regenerate: npx tsx scripts/gen-config-reference.ts)", () => {
    expect(readFileSync(REFERENCE_PATH, "utf8")).toBe(renderConfigReference());
  });

  it("lists every top-level field and every runner field with its default and limits", () => {
    const doc = renderConfigReference();
    for (const key of Object.keys(configSchema.shape)) expect(doc).toContain(`| \`${key}\` |`);
    expect(doc).toMatch(
      /\| `runners\[\]\.idleTimeoutSeconds` \| integer \| {2}\| `600` \| ≥ 60, ≤ 86400 \| A manager with no job/,
    );
  });

  it("takes descriptions from the schema's JSDoc, so editing a comment changes the reference", () => {
    const source = readFileSync(SCHEMA_SOURCE, "utf8");
    const edited = source.replace("Jobs one manager runs at once", "How many jobs a manager runs together");
    expect(edited).not.toBe(source);
    expect(renderConfigReference(edited)).toContain("How many jobs a manager runs together");
    expect(renderConfigReference(edited)).not.toBe(renderConfigReference(source));
  });
});
