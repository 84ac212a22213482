/** cdk-nag runs in the synth of the app `cdk synth` builds (src/infra/build-app.ts), and fails it on a finding. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import * as s3 from "aws-cdk-lib/aws-s3";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { appOptions } from "../../src/infra/app-options.js";
import { buildApp } from "../../src/infra/build-app.js";
import { PROJECT_ROOT } from "../../src/infra/images.js";

const input: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, "config/example.json"), "utf8"));

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** The app exactly as `cdk synth` builds it, offline: Lambda bundling skipped, images only fingerprinted. */
function appLikeCdkSynth(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "sgr-nag-"));
  outdirs.push(outdir);
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context: Record<string, unknown>;
  };
  const app = new App({ outdir, context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] } });
  const stack = buildApp(
    app,
    appOptions((key) => context[key], {}),
    { config: parseConfig(input), input },
  );
  const report = () => JSON.parse(readFileSync(join(outdir, "validation-report.json"), "utf8"));
  return { app, stack, report };
}

describe("cdk-nag in the synth", () => {
  it("passes the real stack: the report holds no plugin finding", () => {
    const { app, report } = appLikeCdkSynth();
    app.synth();
    expect(report()).toMatchObject({ title: "Validation Report", pluginReports: [] });
  });

  it("passes with job tasks allowed to push images (the registry login's wildcard is acknowledged)", () => {
    const { app, report } = appLikeCdkSynth({ jobImagePushRepositories: "team/app" });
    app.synth();
    expect(report()).toMatchObject({ title: "Validation Report", pluginReports: [] });
  });

  it("fails the synth on a deliberately non-compliant construct, naming the rule", () => {
    const { app, stack, report } = appLikeCdkSynth();
    new s3.Bucket(stack, "PlainBucket"); // no TLS-only policy, no access logs
    expect(() => app.synth()).toThrow(/AwsSolutions/);
    const [plugin] = report().pluginReports;
    expect(plugin).toMatchObject({ pluginName: "AwsSolutions", conclusion: "failure" });
    const rules = (
      plugin.violations as { ruleName: string; violatingConstructs: { constructPath: string }[] }[]
    )
      .filter((v) => v.violatingConstructs.some((c) => c.constructPath.includes("PlainBucket")))
      .map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(["AwsSolutions-S1", "AwsSolutions-S10"]));
  });
});
