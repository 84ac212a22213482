/**
 * `npm run synth` as a user runs it: the configuration deploy would use, the template written to cdk.out, and a
 * few lines on the terminal saying where it went (the template itself is thousands of lines).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/infra/images.js";
import { runCommand } from "../support/run-command.js";

describe("npm run synth", () => {
  it("keeps the user's own config/runner.json out of git", async () => {
    const check = spawnSync("git", ["check-ignore", "-q", "config/runner.json"], { cwd: PROJECT_ROOT });
    expect(check.status).toBe(0);
  });

  it("synthesizes the file deploy uses into cdk.out and prints where the template went, not the template", async () => {
    const run = await runCommand(
      join(PROJECT_ROOT, "node_modules/.bin/tsx"),
      ["scripts/synth.ts", "-c", "stackName=SgrSynthCommand"],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, SGR_CONFIG_FILE: "config/example-existing-vpc.json" },
        timeout: 180_000,
      },
    );
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toBe("synthesizing config/example-existing-vpc.json");
    expect(lines).toContain("template: cdk.out/SgrSynthCommand.template.json");
    expect(lines.length).toBeLessThan(6);
    expect(run.stdout).not.toContain("AWS::");
    const template = JSON.parse(
      readFileSync(join(PROJECT_ROOT, "cdk.out/SgrSynthCommand.template.json"), "utf8"),
    );
    const families = Object.values(
      template.Resources as Record<string, { Type: string; Properties: unknown }>,
    )
      .filter((r) => r.Type === "AWS::ECS::TaskDefinition")
      .map((r) => (r.Properties as { Family: string }).Family);
    // The runners of the file named, not of the example.
    expect(families).toEqual(["SgrSynthCommand-manager-small", "SgrSynthCommand-manager-arm-builds"]);
  });
});
