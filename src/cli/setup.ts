/**
 * `sgr setup`: registers each runner configuration in GitLab, stores the tokens in SSM, creates the webhook
 * pointing at the deployed stack and proves a delivery reaches the bus. Idempotent: a re-run finds the runner
 * by its description and the hook by its URL and updates them; tokens are rotated only when asked.
 */
import { randomBytes } from "node:crypto";
import { type Config, type RunnerConfig, runnerTokenParameterName } from "../config/index.js";
import type { AwsClients } from "./clients.js";
import { deliveryPublishedSince, waitForDelivery } from "./delivery-check.js";
import type { Deployment } from "./deployment.js";
import { CliError, EXIT } from "./exit-codes.js";
import {
  type GitLabApi,
  GitLabHttpError,
  type GitLabRunner,
  type HookTarget,
  type RunnerType,
} from "./gitlab-api.js";
import { readSecret, writeSecret } from "./ssm-secrets.js";

export interface SetupOptions {
  target: HookTarget;
  runnerType: RunnerType;
  rotateRunnerToken: boolean;
  rotateWebhookSecret: boolean;
  pipelineEvents: boolean;
  /** Send a test delivery and wait for it on the bus. */
  testDelivery: boolean;
  confirmTimeoutMs: number;
}

export interface SetupDeps {
  gitlab: GitLabApi;
  aws: Pick<AwsClients, "ssm" | "db">;
  progress: (message: string) => void;
  sleep: (ms: number) => Promise<void>;
  nowMs: () => number;
}

export type Action = "created" | "updated" | "unchanged";

export interface RunnerSetupResult {
  name: string;
  runnerId: number;
  action: Action;
  tokenParameter: string;
  token: "stored" | "kept" | "rotated";
}

export interface SetupResult {
  runners: RunnerSetupResult[];
  webhookSecret: { parameter: string; action: "generated" | "kept" | "rotated" };
  webhook: { id: number; url: string; action: Action };
  /**
   * confirmed: seen on the bus; failed: GitLab sent it and the webhook refused it; not-confirmed: GitLab sent it
   * and the webhook took it, but it never showed up in the state table; not-sent: GitLab had nothing to send
   * (a project without any CI job yet).
   */
  testDelivery: { state: "confirmed" | "failed" | "not-confirmed" | "not-sent" | "skipped"; detail?: string };
}

/** The description a runner configuration is registered (and found again) under. */
export function runnerDescription(runner: RunnerConfig, stackName: string): string {
  return `serverless-gitlab-runner ${stackName}/${runner.name}`;
}

export async function runSetup(
  deps: SetupDeps,
  config: Config,
  deployment: Deployment,
  options: SetupOptions,
): Promise<SetupResult> {
  const existing = await deps.gitlab.listRunners(options.runnerType, options.target);
  const runners: RunnerSetupResult[] = [];
  for (const runner of config.runners) {
    runners.push(await setupRunner(deps, runner, deployment.stackName, existing, options));
  }
  const webhookSecret = await ensureWebhookSecret(deps, config.ssm.webhookSecretParameter, options);
  const webhook = await ensureHook(deps, deployment.webhookUrl, webhookSecret.value, options);
  if (webhookSecret.action === "rotated" && options.testDelivery) {
    // Running webhook functions keep the old secret for up to secretCacheTtlSeconds; a test sent before that
    // is refused, and refusals count towards GitLab disabling the hook.
    const waitSeconds = config.webhook.secretCacheTtlSeconds;
    deps.progress(`waiting ${waitSeconds} s for running webhook functions to read the new secret`);
    await deps.sleep(waitSeconds * 1000);
  }
  const testDelivery = options.testDelivery
    ? await sendTestDelivery(deps, deployment, webhook.id, options)
    : { state: "skipped" as const };
  return {
    runners,
    webhookSecret: { parameter: config.ssm.webhookSecretParameter, action: webhookSecret.action },
    webhook,
    testDelivery,
  };
}

async function setupRunner(
  deps: SetupDeps,
  runner: RunnerConfig,
  stackName: string,
  existing: GitLabRunner[],
  options: SetupOptions,
): Promise<RunnerSetupResult> {
  const description = runnerDescription(runner, stackName);
  const settings = { description, tagList: runner.tags, runUntagged: runner.runUntagged };
  const tokenParameter = runnerTokenParameterName(runner);
  const tokenDescription = `GitLab runner authentication token of runner configuration ${runner.name}`;
  const found = existing.find((r) => r.description === description);
  if (!found) {
    deps.progress(
      `creating runner ${runner.name} (${options.runnerType}, tags: ${runner.tags.join(",") || "none"})`,
    );
    const created = await deps.gitlab.createRunner(options.runnerType, options.target, settings);
    if (!created?.token?.startsWith("glrt-")) {
      throw new CliError(
        `GitLab created runner ${created?.id} but returned no glrt- token`,
        EXIT.checkFailed,
      );
    }
    await writeSecret(deps.aws.ssm, tokenParameter, created.token, tokenDescription);
    deps.progress(`stored the token of runner ${runner.name} in ${tokenParameter}`);
    return { name: runner.name, runnerId: created.id, action: "created", tokenParameter, token: "stored" };
  }

  deps.progress(`updating runner ${runner.name} (#${found.id})`);
  await deps.gitlab.updateRunner(found.id, settings);
  const stored = await readSecret(deps.aws.ssm, tokenParameter);
  if (options.rotateRunnerToken) {
    const reset = await deps.gitlab.resetRunnerToken(found.id);
    await writeSecret(deps.aws.ssm, tokenParameter, reset.token, tokenDescription);
    deps.progress(
      `rotated the token of runner ${runner.name}; a manager running now cannot take jobs until it is replaced (the next one reads the new token)`,
    );
    return { name: runner.name, runnerId: found.id, action: "updated", tokenParameter, token: "rotated" };
  }
  if (!stored?.trim()) {
    throw new CliError(
      `runner ${runner.name} exists in GitLab (#${found.id}) but ${tokenParameter} holds no token, and GitLab shows a token only once`,
      EXIT.checkFailed,
      "re-run with --rotate-runner-token to issue a new token and store it",
    );
  }
  return { name: runner.name, runnerId: found.id, action: "updated", tokenParameter, token: "kept" };
}

async function ensureWebhookSecret(deps: SetupDeps, parameter: string, options: SetupOptions) {
  const stored = await readSecret(deps.aws.ssm, parameter);
  if (stored?.trim() && !options.rotateWebhookSecret) return { value: stored, action: "kept" as const };
  // 32 random bytes: GitLab limits the secret token to 255 characters; base64url keeps it header-safe.
  const value = randomBytes(32).toString("base64url");
  await writeSecret(deps.aws.ssm, parameter, value, "Secret token of the GitLab webhook (X-Gitlab-Token)");
  deps.progress(`${stored ? "rotated" : "generated"} the webhook secret in ${parameter}`);
  return { value, action: stored ? ("rotated" as const) : ("generated" as const) };
}

async function ensureHook(deps: SetupDeps, url: string, secretToken: string, options: SetupOptions) {
  const hooks = await deps.gitlab.listHooks(options.target);
  const found = hooks.find((h) => h.url === url);
  const settings = { url, secretToken, pipelineEvents: options.pipelineEvents };
  if (found) {
    deps.progress(`updating webhook #${found.id} of ${options.target.kind} ${options.target.id}`);
    await deps.gitlab.updateHook(options.target, found.id, settings);
    return { id: found.id, url, action: "updated" as const };
  }
  deps.progress(`creating the webhook of ${options.target.kind} ${options.target.id} → ${url}`);
  const created = await deps.gitlab.createHook(options.target, settings);
  return { id: created.id, url, action: "created" as const };
}

async function sendTestDelivery(
  deps: SetupDeps,
  deployment: Deployment,
  hookId: number,
  options: SetupOptions,
): Promise<SetupResult["testDelivery"]> {
  // Seconds, floored, minus a margin: the webhook writes claimedAt from its own clock.
  const sinceSeconds = Math.floor(deps.nowMs() / 1000) - 5;
  deps.progress("sending a test Job Hook delivery");
  try {
    await deps.gitlab.testHook(options.target, hookId);
  } catch (err) {
    if (err instanceof GitLabHttpError && err.status < 500) {
      // GitLab builds the sample from the project's last job; without one it sends nothing.
      const nothingToSend = /has (no )?CI jobs/i.test(err.message);
      return { state: nothingToSend ? "not-sent" : "failed", detail: err.message };
    }
    throw err;
  }
  deps.progress(
    `waiting up to ${Math.round(options.confirmTimeoutMs / 1000)} s for it to reach the event bus`,
  );
  const seen = await waitForDelivery(
    () => deliveryPublishedSince(deps.aws.db, deployment.resources.stateTableName, sinceSeconds),
    options.confirmTimeoutMs,
    deps.sleep,
  );
  return seen
    ? { state: "confirmed" }
    : { state: "not-confirmed", detail: "no accepted delivery recorded in the state table" };
}
