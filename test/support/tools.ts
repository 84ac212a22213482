/** Where the project's scripts install the test tools (scripts/install-test-tools.sh). */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { toolsDir } from "../../scripts/tools-dir.js";

export { toolsDir };

/** Path of an installed tool, or an Error that says how to install it. Tests fail, never skip, without it. */
export function requireTool(relativePath: string, what: string): string {
  const path = join(toolsDir, relativePath);
  if (!existsSync(path)) {
    throw new Error(`${what} is not installed at ${path}: run 'npm run setup:test-tools' first`);
  }
  return path;
}
