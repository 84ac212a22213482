/**
 * Runs one Lambda handler of src/functions/catalog.ts on this machine with an event file, against moto or
 * real AWS, and prints what it returns, the way a user debugs a function:
 *
 *   npm run invoke -- <function-name> <event.json> [--endpoint http://127.0.0.1:5000]
 *                     [--config config.json] [--resources resources.json] [--region eu-west-1]
 *
 * SGR_CONFIG / SGR_RESOURCES come from the environment unless --config / --resources name JSON files.
 * With --endpoint every AWS SDK client talks to that endpoint (AWS_ENDPOINT_URL); without it, to real AWS
 * with your usual credentials. Exit code 1 when the handler throws (the error is printed).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { FUNCTIONS, type FunctionName } from "../src/functions/catalog.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const usage =
  "usage: tsx scripts/invoke-local.ts <function-name> <event.json> [--endpoint URL] [--config file.json] [--resources file.json] [--region REGION]";

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
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || positionals.length !== 2) fail(usage);
const [name, eventPath] = positionals as [string, string];
if (!(name in FUNCTIONS)) fail(`unknown function '${name}'; one of: ${Object.keys(FUNCTIONS).join(", ")}`);
const event = JSON.parse(readJsonFile(eventPath, "event file"));

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

const modulePath = pathToFileURL(resolve(repoRoot, FUNCTIONS[name as FunctionName])).href;
const mod = (await import(modulePath)) as {
  handler?: (event: unknown, context: unknown) => Promise<unknown>;
};
if (typeof mod.handler !== "function") fail(`${FUNCTIONS[name as FunctionName]} exports no handler`);
try {
  const result = await mod.handler(event, context);
  console.log("--- result ---");
  console.log(JSON.stringify(result ?? null, null, 2));
} catch (err) {
  console.error("--- handler threw ---");
  console.error((err as Error).stack ?? String(err));
  process.exit(1);
}
