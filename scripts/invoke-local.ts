/**
 * Runs one Lambda handler of src/functions/catalog.ts on this machine with an event file, and prints what it
 * returns, the way a user debugs a function:
 *
 *   npm run invoke -- --local <function-name> <event.json> [--config runner.json]
 *   npm run invoke -- <function-name> <event.json> [--endpoint http://127.0.0.1:5000]
 *                     [--config config.json] [--resources resources.json] [--region eu-west-1]
 *
 * --local starts moto, synthesizes the stack from the configuration (--config, else what `npm run synth` uses),
 * creates every resource of the template in moto (test/support/moto-stack.ts), fills the SSM parameters with
 * placeholders (the webhook secret with the event's `x-gitlab-token`), writes the configuration and resources it
 * used to cdk.out/invoke-local/, runs the handler against that moto, and stops it.
 * Otherwise SGR_CONFIG / SGR_RESOURCES come from the environment unless --config / --resources name JSON files
 * (the resources schema: src/config/resources.ts); with --endpoint every AWS SDK client talks to that endpoint
 * (AWS_ENDPOINT_URL), without it to real AWS with your usual credentials.
 * Exit code 1 when the handler throws or answers a 5xx (the error or the answer is printed), 2 for bad arguments.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { CONFIG_ENV, RESOURCES_ENV } from "../src/config/index.js";
import { FUNCTIONS, type FunctionName } from "../src/functions/catalog.js";
import { loadUserConfig, synthConfigPath } from "../src/infra/user-config.js";
import type { CfnTemplate } from "../test/infra/cfn.js";
import { synthesize } from "../test/infra/synth.js";
import { type MotoServer, motoEnv, startMoto } from "../test/support/moto.js";
import { deployTemplateToMoto } from "../test/support/moto-stack.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const usage =
  "usage: npm run invoke -- --local <function-name> <event.json> [--config runner.json]\n" +
  "       npm run invoke -- <function-name> <event.json> [--endpoint URL] [--config file.json] [--resources file.json] [--region REGION]";
/** Where --local writes the configuration and resources it ran with. */
const LOCAL_OUT = "cdk.out/invoke-local";

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function readJsonFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    fail(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    JSON.parse(text);
  } catch (err) {
    fail(`${what} ${path} is not JSON: ${(err as Error).message}`);
  }
  return text;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    endpoint: { type: "string" },
    config: { type: "string" },
    resources: { type: "string" },
    region: { type: "string" },
    local: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || positionals.length !== 2) fail(usage);
const [name, eventPath] = positionals as [string, string];
if (!(name in FUNCTIONS)) fail(`unknown function '${name}'; one of: ${Object.keys(FUNCTIONS).join(", ")}`);
const event = JSON.parse(readJsonFile(eventPath, "event file"));

/** Placeholder secrets for the SSM parameters the stack names; the webhook secret is the one the event carries. */
function placeholderSecret(name: string, webhookSecretParameter: string): string {
  if (name === webhookSecretParameter) {
    const headers = (event as { headers?: Record<string, string> }).headers ?? {};
    return headers["x-gitlab-token"] ?? "local-webhook-secret";
  }
  if (/signing/.test(name))
    return `whsec_${Buffer.from("local-signing-key-0123456789abcdef").toString("base64")}`;
  return /runner-token/.test(name) ? "glrt-local-placeholder" : "glpat-local-placeholder";
}

/** Starts moto and creates the whole stack in it from the configuration; sets SGR_CONFIG / SGR_RESOURCES. */
async function deployLocally(): Promise<MotoServer> {
  if (values.endpoint || values.resources || values.region)
    fail(
      "--local starts its own moto and takes the resources from the stack: drop --endpoint, --resources and --region",
    );
  const chosen = values.config ? { path: resolve(values.config) } : synthConfigPath(process.env, existsSync);
  if ("fallback" in chosen && chosen.fallback) console.error(chosen.fallback);
  let loaded: ReturnType<typeof loadUserConfig>;
  try {
    loaded = loadUserConfig(chosen.path, "--config <file>");
  } catch (err) {
    fail((err as Error).message);
  }
  const moto = await startMoto();
  try {
    Object.assign(process.env, motoEnv(moto.endpoint));
    // Synth offline into a scratch directory (no bundling: the handler runs from source here).
    process.env.CDK_OUTDIR = resolve(repoRoot, LOCAL_OUT, "cdk");
    const synth = synthesize(loaded.input, "SgrLocal");
    const deployed = await deployTemplateToMoto(synth.template.toJSON() as CfnTemplate, "SgrLocal");
    const ssm = new SSMClient({});
    for (const name of synth.stack.runner.requiredParameterNames) {
      const value = placeholderSecret(name, loaded.config.ssm.webhookSecretParameter);
      await ssm.send(
        new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }),
      );
    }
    const config = deployed.functionEnvironment[CONFIG_ENV] ?? JSON.stringify(loaded.input);
    const resources = JSON.stringify(deployed.functionResources, null, 2);
    mkdirSync(resolve(repoRoot, LOCAL_OUT), { recursive: true });
    writeFileSync(resolve(repoRoot, LOCAL_OUT, "config.json"), config);
    writeFileSync(resolve(repoRoot, LOCAL_OUT, "resources.json"), resources);
    console.error(
      `moto at ${moto.endpoint} holds the stack of ${chosen.path}; the handler gets ${LOCAL_OUT}/config.json and ` +
        `${LOCAL_OUT}/resources.json (schema: src/config/resources.ts)`,
    );
    process.env[CONFIG_ENV] = config;
    process.env[RESOURCES_ENV] = resources;
    return moto;
  } catch (err) {
    await moto.stop();
    throw err;
  }
}

const moto = values.local ? await deployLocally() : undefined;
if (!values.local) {
  if (values.config) process.env.SGR_CONFIG = readJsonFile(values.config, "config file");
  if (values.resources) process.env.SGR_RESOURCES = readJsonFile(values.resources, "resources file");
  if (values.region) process.env.AWS_REGION = values.region;
  process.env.AWS_REGION ??= process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  if (values.endpoint) {
    process.env.AWS_ENDPOINT_URL = values.endpoint;
    // An emulator accepts any credentials; real ones, when set, are left alone.
    process.env.AWS_ACCESS_KEY_ID ??= "testing";
    process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
  }
}

const started = Date.now();
const context = {
  functionName: `local-${name}`,
  functionVersion: "$LATEST",
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:local-${name}`,
  memoryLimitInMB: "512",
  awsRequestId: `local-${started}`,
  logGroupName: `/aws/lambda/local-${name}`,
  logStreamName: "local",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, 30_000 - (Date.now() - started)),
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

/** A Function URL answer with a 5xx status: the handler failed even though it did not throw. */
function serverErrorStatus(result: unknown): number | undefined {
  const status = (result as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" && status >= 500 ? status : undefined;
}

try {
  const modulePath = pathToFileURL(resolve(repoRoot, FUNCTIONS[name as FunctionName])).href;
  const mod = (await import(modulePath)) as {
    handler?: (event: unknown, context: unknown) => Promise<unknown>;
  };
  if (typeof mod.handler !== "function") fail(`${FUNCTIONS[name as FunctionName]} exports no handler`);
  try {
    const result = await mod.handler(event, context);
    console.log("--- result ---");
    console.log(JSON.stringify(result ?? null, null, 2));
    const status = serverErrorStatus(result);
    if (status !== undefined) {
      console.error(`--- handler answered ${status} ---`);
      process.exitCode = 1;
    }
  } catch (err) {
    console.error("--- handler threw ---");
    console.error((err as Error).stack ?? String(err));
    process.exitCode = 1;
  }
} finally {
  await moto?.stop();
}
