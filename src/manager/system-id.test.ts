import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SYSTEM_ID_PATTERN, systemIdFor, writeSystemIdFile } from "./system-id.js";

const seed = "https://gitlab.example.com|sgr-state-table";

describe("runner system id", () => {
  it("has the format gitlab-runner accepts (otherwise it would make up its own)", () => {
    const id = systemIdFor({ runnerName: "default", deploymentSeed: seed });
    expect(id).toMatch(SYSTEM_ID_PATTERN);
    expect(id).toMatch(/^s_[0-9a-f]{12}$/);
  });

  it("is the same on every start of the same runner configuration", () => {
    const ids = new Set(
      Array.from({ length: 5 }, () => systemIdFor({ runnerName: "default", deploymentSeed: seed })),
    );
    expect(ids.size).toBe(1);
  });

  it("differs between runner configurations and between deployments", () => {
    const ids = new Set([
      systemIdFor({ runnerName: "default", deploymentSeed: seed }),
      systemIdFor({ runnerName: "large", deploymentSeed: seed }),
      systemIdFor({ runnerName: "default", deploymentSeed: "https://gitlab.example.com|other-table" }),
      systemIdFor({ runnerName: "default", deploymentSeed: "https://gitlab.other.com|sgr-state-table" }),
    ]);
    expect(ids.size).toBe(4);
  });

  it("is written as gitlab-runner writes it: the bare id, mode 0600", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "sgr-sysid-")), ".runner_system_id");
    const id = systemIdFor({ runnerName: "default", deploymentSeed: seed });
    await writeSystemIdFile(file, id);
    expect(readFileSync(file, "utf8")).toBe(id);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("refuses to write something the runner would ignore", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "sgr-sysid-")), ".runner_system_id");
    await expect(writeSystemIdFile(file, "s_tooshort")).rejects.toThrow(/not a runner system id/);
  });
});
