/**
 * What the CDK app takes from `-c key=value` context (and the environment), parsed in one place so it can be
 * tested without synthesizing. Every key is optional.
 */
import { resolveConfigPath } from "./user-config.js";

export const DEFAULT_STACK_NAME = "ServerlessGitlabRunner";

export interface AppOptions {
  /** `-c config=<file>`, else SGR_CONFIG_FILE, else config/runner.json. */
  configPath: string;
  /** `-c stackName=<name>`: several deployments per account. */
  stackName: string;
  /** `-c retainData=false`: delete the table, bucket and logs with the stack (throw-away stacks). */
  retainData: boolean;
  /** `-c jobImageRepositories=team/base,team/tools`: private ECR repositories job images may come from. */
  jobImageRepositories: string[] | undefined;
  /** `-c jobImagePushRepositories=team/app`: private ECR repositories jobs may push images to. */
  jobImagePushRepositories: string[] | undefined;
  /**
   * `-c serializeScheduler=true`: also reserve a concurrency of 1 for the scheduler (its lease already runs one
   * period at a time; accounts whose Lambda limit is 10 cannot reserve any).
   */
  serializeScheduler: boolean;
  /** `-c webhookReservedConcurrency=10`: reserve (and cap) the webhook's concurrency; off by default. */
  webhookReservedConcurrency: number | undefined;
}

/** A context value given as `a,b,c` on the command line or as a JSON array in cdk.json. */
function listValue(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const items = Array.isArray(value) ? value.map(String) : String(value).split(",");
  return items.map((item) => item.trim()).filter((item) => item !== "");
}

/** A whole number from the command line (`"10"`) or cdk.json (`10`); undefined when not given. */
function integerValue(key: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const number = typeof value === "number" ? value : Number(String(value).trim());
  if (!Number.isInteger(number)) throw new Error(`context '${key}' must be a whole number, not '${value}'`);
  return number;
}

/** `false` from cdk.json or `"false"` from the command line. */
const isFalse = (value: unknown): boolean => value === false || value === "false";
/** `true` from cdk.json or `"true"` from the command line. */
const isTrue = (value: unknown): boolean => value === true || value === "true";

export function appOptions(
  context: (key: string) => unknown,
  env: NodeJS.ProcessEnv = process.env,
): AppOptions {
  const stackName = context("stackName");
  if (
    stackName !== undefined &&
    (typeof stackName !== "string" || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName))
  ) {
    throw new Error(
      "context 'stackName' must be a CloudFormation stack name (letters, digits, '-', starting with a letter)",
    );
  }

  return {
    configPath: resolveConfigPath(context("config"), env),
    stackName: (stackName as string | undefined) ?? DEFAULT_STACK_NAME,
    retainData: !isFalse(context("retainData")),
    jobImageRepositories: listValue(context("jobImageRepositories")),
    jobImagePushRepositories: listValue(context("jobImagePushRepositories")),
    serializeScheduler: isTrue(context("serializeScheduler")),
    webhookReservedConcurrency: integerValue(
      "webhookReservedConcurrency",
      context("webhookReservedConcurrency"),
    ),
  };
}
