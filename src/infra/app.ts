/**
 * CDK app entry (`cdk.json` runs it): reads the user configuration named by `-c config=<file>`, or
 * SGR_CONFIG_FILE, or config/runner.json, validates it, and synthesizes one stack with the cdk-nag checks
 * (build-app.ts). The stack is environment-agnostic: synth needs no AWS access, and deploy targets the account
 * and region of the CLI's credentials.
 */
import { App } from "aws-cdk-lib";
import { ConfigError } from "../config/index.js";
import { appOptions } from "./app-options.js";
import { buildApp } from "./build-app.js";
import { loadUserConfig } from "./user-config.js";

function main(): void {
  const app = new App();
  let options: ReturnType<typeof appOptions>;
  let loaded: ReturnType<typeof loadUserConfig>;
  try {
    options = appOptions((key) => app.node.tryGetContext(key));
    loaded = loadUserConfig(options.configPath);
  } catch (err) {
    // A configuration mistake is the user's to fix: print it plainly, no stack trace.
    console.error((err as Error).message);
    process.exit(err instanceof ConfigError ? 1 : 2);
  }
  buildApp(app, options, loaded);
  app.synth();
}

main();
