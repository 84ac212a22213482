/**
 * Every CDK App without an outdir makes its own `cdk.out*` directory in the system temp dir and nobody removes it
 * (hundreds of MiB per test run). Each test file gets one directory instead, removed when the file is done.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const outdir = mkdtempSync(join(tmpdir(), "sgr-cdk-out-"));
process.env.CDK_OUTDIR = outdir;
afterAll(() => rmSync(outdir, { recursive: true, force: true }));
