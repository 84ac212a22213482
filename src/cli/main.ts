/**
 * `sgr`: the operator's command line (setup, status, doctor). `runCli` is the whole program with its
 * outside world passed in (arguments, environment, output streams, AWS clients, fetch), so tests run it
 * in-process against moto and a GitLab simulator and capture everything it prints.
 */
import { parseArgs } from "node:util";
import { type Config, ConfigError } from "../config/index.js";
import { CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE, loadUserConfig } from "../infra/user-config.js";
import { type AwsClients, createAwsClients, resolveRegion } from "./clients.js";
import { DEFAULT_STACK_NAME, loadDeployment } from "./deployment.js";
import { doctorExitCode, formatDoctor, runDoctor } from "./doctor.js";
import { CliError, EXIT } from "./exit-codes.js";
import { type Fetch, GitLabApi, type HookTarget, type RunnerType } from "./gitlab-api.js";
import { promptSecret } from "./prompt-secret.js";
import { runSetup, type SetupResult } from "./setup.js";
import { collectStatus, formatStatus } from "./status.js";

/** How `sgr` names the configuration file, for the hint when it is missing. */
const SGR_CONFIG_OPTION = "--config <file>";

const COMMON_OPTIONS = `  -c, --config <file>        runner configuration (default: $${CONFIG_FILE_ENV} or ${DEFAULT_CONFIG_FILE})
      --stack <name>         CloudFormation stack (default: $SGR_STACK_NAME or ${DEFAULT_STACK_NAME})
      --region <region>      AWS region (default: AWS_REGION, else your AWS profile's)`;
const TARGET_OPTIONS = `      --project <id|path>    project that owns the webhook (and project runners)
      --group <id|path>      group that owns the webhook (and group runners)`;
const FOOTER = `Environment: GITLAB_TOKEN (token with api scope; prompted for in a terminal when unset; never printed).
Exit codes: 0 ok, 1 a check or step failed, 2 usage or configuration error, 3 AWS or GitLab unreachable.
`;

export const USAGE = `Usage: sgr <command> [options]

Commands:
  setup    create/update the GitLab runner(s) and webhook, store tokens in SSM, send a test delivery
  status   managers, jobs, webhook health, dead letters, estimated cost this month
  doctor   check every link from GitLab to a job task and say what to fix

\`sgr <command> --help\` (or \`sgr help <command>\`) shows one command's options.

Options:
${COMMON_OPTIONS}
${TARGET_OPTIONS}
      --runner-type <type>   setup: project | group | instance (default: from --project/--group)
      --rotate-runner-token  setup: issue new runner tokens for runners that already exist
      --rotate-webhook-secret setup: generate a new webhook secret
      --pipeline-events      setup: also send Pipeline Hooks
      --no-test-delivery     setup: do not send a test delivery
      --confirm-timeout <s>  setup: how long to wait for the test delivery on the bus (default 60)
      --json                 status, doctor, setup: print JSON on stdout
  -h, --help

${FOOTER}`;

/** Each command's own help: what it does, then only the options it takes. */
export const COMMAND_HELP: Record<"setup" | "status" | "doctor", string> = {
  setup: `Usage: sgr setup (--project <id|path> | --group <id|path>) [options]

Creates or updates the GitLab runner of each runner configuration and the webhook, stores the runner tokens and
the webhook secret in SSM, and sends a test delivery through the deployed stack.

Options:
${COMMON_OPTIONS}
${TARGET_OPTIONS}
      --runner-type <type>   project | group | instance (default: from --project/--group)
      --rotate-runner-token  issue new runner tokens for runners that already exist
      --rotate-webhook-secret generate a new webhook secret (set on the hook, then tested)
      --pipeline-events      also send Pipeline Hooks
      --no-test-delivery     do not send a test delivery
      --confirm-timeout <s>  how long to wait for the test delivery on the bus (default 60)
      --json                 print the result as JSON on stdout
  -h, --help

${FOOTER}`,
  status: `Usage: sgr status [options]

Shows the managers, the last jobs, webhook health, dead letters and the estimated cost this month.

Options:
${COMMON_OPTIONS}
${TARGET_OPTIONS}
                             (optional: adds the webhook's health as GitLab reports it)
      --json                 print the report as JSON on stdout
  -h, --help

${FOOTER}`,
  doctor: `Usage: sgr doctor [options]

Checks every link from GitLab to a job task (GitLab token, runner tokens, SSM parameters, webhook, cluster,
subnets, manager images) and says what to fix for each failure.

Options:
${COMMON_OPTIONS}
${TARGET_OPTIONS}
                             (optional: also checks the webhook and the runners in GitLab)
      --json                 print the checks as JSON on stdout
  -h, --help

${FOOTER}`,
};

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** A terminal to prompt on for the GitLab token; undefined in scripts and tests. */
  tty?: { input: NodeJS.ReadStream; output: NodeJS.WriteStream };
  fetch?: Fetch;
  aws?: (region: string) => AwsClients;
  sleep?: (ms: number) => Promise<void>;
}

const OPTIONS = {
  config: { type: "string", short: "c" },
  stack: { type: "string" },
  region: { type: "string" },
  project: { type: "string" },
  group: { type: "string" },
  "runner-type": { type: "string" },
  "rotate-runner-token": { type: "boolean", default: false },
  "rotate-webhook-secret": { type: "boolean", default: false },
  "pipeline-events": { type: "boolean", default: false },
  "test-delivery": { type: "boolean", default: true },
  "confirm-timeout": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Values = ReturnType<typeof parse>["values"];

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    allowNegative: true,
    strict: true,
  });
}

const COMMANDS = ["setup", "status", "doctor"] as const;
type Command = (typeof COMMANDS)[number];

/** Runs one command; answers the exit code (never throws, never calls process.exit). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.stderr.write(`sgr: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === "help") {
    const named = positionals[0] === "help" ? positionals[1] : positionals[0];
    io.stdout.write(named && named in COMMAND_HELP ? COMMAND_HELP[named as Command] : USAGE);
    return EXIT.ok;
  }
  const command = positionals[0];
  if (!command || !COMMANDS.includes(command as Command) || positionals.length > 1) {
    io.stderr.write(
      `sgr: ${command ? `unknown command '${positionals.join(" ")}'` : "no command given"}\n\n${USAGE}`,
    );
    return EXIT.usage;
  }
  try {
    return await runCommand(command as Command, values, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`sgr ${command}: ${err.message}\n${err.fix ? `  fix: ${err.fix}\n` : ""}`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`sgr ${command}: ${err.message}\n`);
      return EXIT.usage;
    }
    // A bug, not an operator error: say so, with the stack, rather than pretend it is a failed check.
    io.stderr.write(`sgr ${command}: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.checkFailed;
  }
}

async function runCommand(command: Command, values: Values, io: CliIo): Promise<number> {
  const progress = (message: string) => io.stderr.write(`› ${message}\n`);
  const configPath = values.config ?? io.env[CONFIG_FILE_ENV] ?? DEFAULT_CONFIG_FILE;
  const config: Config = loadUserConfig(configPath, SGR_CONFIG_OPTION).config;
  const target = hookTarget(values);
  const stackName = values.stack ?? io.env.SGR_STACK_NAME ?? DEFAULT_STACK_NAME;
  const aws = (io.aws ?? createAwsClients)(await resolveRegion(values.region, io.env));
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  if (command === "setup") {
    if (!target) throw new CliError("setup needs --project <id|path> or --group <id|path>", EXIT.usage);
    const runnerType = runnerTypeOf(values, target);
    const confirmTimeoutMs = seconds(values["confirm-timeout"], 60) * 1000;
    const gitlab = new GitLabApi(config.gitlab.url, await gitlabToken(io, true), io.fetch);
    progress(`reading stack ${stackName} in ${aws.region}`);
    const deployment = await loadDeployment(aws, stackName);
    const result = await runSetup({ gitlab, aws, progress, sleep, nowMs: Date.now }, config, deployment, {
      target,
      runnerType,
      rotateRunnerToken: values["rotate-runner-token"],
      rotateWebhookSecret: values["rotate-webhook-secret"],
      pipelineEvents: values["pipeline-events"],
      testDelivery: values["test-delivery"],
      confirmTimeoutMs,
    });
    io.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatSetup(result));
    const delivered = !["failed", "not-confirmed"].includes(result.testDelivery.state);
    return delivered ? EXIT.ok : EXIT.checkFailed;
  }

  const token = await gitlabToken(io, false);
  const gitlab = token ? new GitLabApi(config.gitlab.url, token, io.fetch) : undefined;
  progress(`reading stack ${stackName} in ${aws.region}`);
  const deployment = await loadDeployment(aws, stackName);
  if (command === "status") {
    const report = await collectStatus({ aws, gitlab, nowMs: Date.now }, config, deployment, target);
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return EXIT.ok;
  }
  const results = await runDoctor({ aws, gitlab }, config, deployment, target);
  io.stdout.write(values.json ? `${JSON.stringify(results, null, 2)}\n` : formatDoctor(results));
  return doctorExitCode(results);
}

function hookTarget(values: Values): HookTarget | undefined {
  if (values.project && values.group)
    throw new CliError("pass either --project or --group, not both", EXIT.usage);
  if (values.project) return { kind: "project", id: values.project };
  if (values.group) return { kind: "group", id: values.group };
  return undefined;
}

function runnerTypeOf(values: Values, target: HookTarget): RunnerType {
  const type = values["runner-type"] ?? target.kind;
  if (type === "project" && target.kind === "project") return "project_type";
  if (type === "group" && target.kind === "group") return "group_type";
  if (type === "instance") return "instance_type";
  throw new CliError(
    `--runner-type ${type} does not fit --${target.kind}: use project with --project, group with --group, or instance`,
    EXIT.usage,
  );
}

function seconds(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 3600)
    throw new CliError(`--confirm-timeout must be 0–3600 seconds, got '${text}'`, EXIT.usage);
  return n;
}

/** GITLAB_TOKEN, else a prompt in a terminal; `required` makes its absence a usage error. */
async function gitlabToken(io: CliIo, required: boolean): Promise<string | undefined> {
  const fromEnv = io.env.GITLAB_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  if (io.tty && required) {
    const typed = await promptSecret("GitLab token (api scope, not echoed): ", io.tty.input, io.tty.output);
    if (typed) return typed;
  }
  if (required) {
    throw new CliError(
      "no GitLab token",
      EXIT.usage,
      "export GITLAB_TOKEN=<token with api and create_runner scope>, or run in a terminal",
    );
  }
  return undefined;
}

function formatSetup(result: SetupResult): string {
  const lines = result.runners.map(
    (r) => `runner ${r.name}: ${r.action} (#${r.runnerId}), token ${r.token} in ${r.tokenParameter}`,
  );
  lines.push(
    `webhook secret: ${result.webhookSecret.action} in ${result.webhookSecret.parameter}`,
    `webhook: ${result.webhook.action} (#${result.webhook.id}) → ${result.webhook.url}`,
    `test delivery: ${result.testDelivery.state}${result.testDelivery.detail ? ` (${result.testDelivery.detail})` : ""}`,
  );
  if (result.testDelivery.state === "failed" || result.testDelivery.state === "not-confirmed") {
    lines.push(
      "  fix: run sgr doctor; the webhook function's logs say why it refused the delivery (secret, signature, size)",
    );
  }
  if (result.testDelivery.state === "not-sent") {
    lines.push(
      "  note: GitLab sends a test Job Hook only for a project that has run a CI job; run a pipeline, then sgr doctor",
    );
  }
  return `${lines.join("\n")}\n`;
}
