/**
 * cfn-lint and checkov on the synthesized template: zero findings beyond the skips checked in beside this file
 * (test/infra/cfn-lint.yaml, test/infra/checkov.yaml, each with its reason), and no skip that matches nothing.
 * Both scanners run without their skip lists so a stale skip is noticed, and in parallel to keep this fast.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/infra/images.js";
import { requireTool } from "../support/tools.js";
import { synthesize } from "./synth.js";

const run = promisify(execFile);

interface Skip {
  id: string;
  reason: string;
}

/** `- ID  # reason` lines of a checked-in scanner config. */
function skipsIn(file: string): Skip[] {
  const text = readFileSync(join(PROJECT_ROOT, "test/infra", file), "utf8");
  return [...text.matchAll(/^\s*-\s*([A-Z][A-Z0-9_]+)\s*(?:#\s*(.*))?$/gm)].map((m) => ({
    id: m[1]!,
    reason: m[2] ?? "",
  }));
}

/** Runs a scanner that exits non-zero when it finds something; returns its stdout either way. */
async function scan(bin: string, args: string[]): Promise<string> {
  try {
    return (await run(bin, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    const out = e.stdout?.trim() ?? "";
    if (out.startsWith("[") || out.startsWith("{")) return out;
    throw new Error(`${bin} failed (exit ${e.code}): ${e.stderr ?? ""}`);
  }
}

let cfnLintFindings: { Rule: { Id: string }; Level: string; Message: string }[];
let checkovFailed: { check_id: string; resource: string; check_name: string }[];
let checkovPassedCount: number;

beforeAll(async () => {
  const cfnLint = requireTool("cfnlint/bin/cfn-lint", "cfn-lint");
  const checkov = requireTool("checkov/bin/checkov", "checkov");
  const dir = mkdtempSync(join(tmpdir(), "sgr-scan-"));
  const templatePath = join(dir, "stack.template.json");
  const input: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, "config/example.json"), "utf8"));
  // Plus Managed Instances (general and GPU), so the scan covers every resource the stack can hold.
  const template = synthesize(input, "SgrScan", { managedInstances: { gpu: {} } }).template.toJSON();
  writeFileSync(templatePath, JSON.stringify(template, null, 1));
  const [lintOut, checkovOut] = await Promise.all([
    scan(cfnLint, ["--format", "json", templatePath]),
    scan(checkov, [
      "-f",
      templatePath,
      "--framework",
      "cloudformation",
      "-o",
      "json",
      "--quiet",
      "--skip-download",
    ]),
  ]);
  cfnLintFindings = JSON.parse(lintOut);
  const report = JSON.parse(checkovOut) as {
    results?: { failed_checks: typeof checkovFailed; passed_checks?: unknown[] };
    summary?: { passed: number };
  };
  checkovFailed = report.results?.failed_checks ?? [];
  checkovPassedCount = report.summary?.passed ?? 0;
}, 240_000);

describe.each([
  [
    "cfn-lint",
    "cfn-lint.yaml",
    () => cfnLintFindings.map((f) => ({ id: f.Rule.Id, what: `${f.Level}: ${f.Message}` })),
  ],
  [
    "checkov",
    "checkov.yaml",
    () => checkovFailed.map((f) => ({ id: f.check_id, what: `${f.resource}: ${f.check_name}` })),
  ],
])("%s", (_name, configFile, findings) => {
  it("finds nothing that is not skipped with a reason", () => {
    const skipped = new Set(skipsIn(configFile).map((s) => s.id));
    expect(findings().filter((f) => !skipped.has(f.id))).toEqual([]);
  });

  it("has a reason for every skip, and no skip that matches nothing", () => {
    const skips = skipsIn(configFile);
    expect(skips.length).toBeGreaterThan(0);
    for (const skip of skips) expect(skip.reason.length, skip.id).toBeGreaterThan(30);
    const found = new Set(findings().map((f) => f.id));
    expect(skips.filter((s) => !found.has(s.id)).map((s) => s.id)).toEqual([]);
  });
});

it("checkov actually evaluated the template (a control against an empty or unparsed scan)", () => {
  expect(checkovPassedCount).toBeGreaterThan(50);
});
