/** The quiet-logs setup file, in a vitest of its own: a passing test's log lines are dropped, a failing one's shown. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/infra/images.js";
import { runCommand } from "./run-command.js";

it("prints the structured log lines of failing tests only", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sgr-quiet-logs-"));
  const config = join(dir, "vitest.config.mjs");
  writeFileSync(
    config,
    `export default { test: { root: ${JSON.stringify(PROJECT_ROOT)}, include: ["test/support/fixtures/quiet-logs.fixture.ts"], setupFiles: ["test/support/quiet-logs.ts"] } };\n`,
  );
  const run = await runCommand(join(PROJECT_ROOT, "node_modules/.bin/vitest"), ["run", "--config", config], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CI: "1", NO_COLOR: "1" },
    timeout: 120_000,
  });
  const output = `${run.stdout}${run.stderr}`;
  expect(run.status, output).toBe(1); // the fixture's failing test
  expect(output).toContain("1 failed | 1 passed");
  expect(output).toContain('"message":"shown when the test fails"');
  expect(output).not.toContain("held back when the test passes");
});
