/**
 * `sgr doctor`: checks every link from GitLab to a job task and says, one line each, what to fix.
 * A check never throws: an unreachable service becomes a failed check marked `unreachable`, so one broken link
 * does not hide the others.
 */

import { DescribeSubnetsCommand } from "@aws-sdk/client-ec2";
import { DescribeImagesCommand } from "@aws-sdk/client-ecr";
import { DescribeClustersCommand } from "@aws-sdk/client-ecs";
import { type Config, runnerTokenParameterName } from "../config/index.js";
import type { AwsClients } from "./clients.js";
import type { Deployment } from "./deployment.js";
import { CliError, EXIT, isUnreachableAwsError } from "./exit-codes.js";
import type { GitLabApi, HookTarget } from "./gitlab-api.js";
import { readSecret } from "./ssm-secrets.js";

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
  /** What to do when it failed. */
  fix?: string;
  /** The check could not reach AWS or GitLab (exit code 3 when nothing else failed). */
  unreachable?: boolean;
}

export interface DoctorDeps {
  aws: Pick<AwsClients, "ssm" | "ecs" | "ec2" | "ecr">;
  gitlab: GitLabApi | undefined;
}

type CheckOutcome = Omit<CheckResult, "check">;
type Check = () => Promise<CheckOutcome>;

async function run(name: string, check: Check): Promise<CheckResult> {
  try {
    return { check: name, ...(await check()) };
  } catch (err) {
    const unreachable =
      (err instanceof CliError && err.exitCode === EXIT.unreachable) || isUnreachableAwsError(err);
    const e = err as { name?: string; message?: string; fix?: string };
    return {
      check: name,
      ok: false,
      unreachable,
      detail: err instanceof CliError ? err.message : `${e.name ?? "Error"}: ${e.message ?? String(err)}`,
      fix: e.fix ?? (unreachable ? "check network access and credentials" : undefined),
    };
  }
}

const ok = (detail: string) => ({ ok: true, detail });
const fail = (detail: string, fix: string) => ({ ok: false, detail, fix });

export async function runDoctor(
  deps: DoctorDeps,
  config: Config,
  deployment: Deployment,
  target: HookTarget | undefined,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const { resources } = deployment;
  results.push(await run("gitlab token", () => checkGitlabToken(deps)));
  for (const runner of config.runners) {
    results.push(await run(`runner token ${runner.name}`, () => checkRunnerToken(deps, runner)));
  }
  results.push(await run("webhook secret", () => checkWebhookSecret(deps, config)));
  results.push(await run("webhook", () => checkWebhook(deps, deployment, target)));
  results.push(await run("cluster", () => checkCluster(deps, resources)));
  results.push(await run("subnets", () => checkSubnets(deps, resources)));
  for (const td of deployment.managerTaskDefinitions) {
    results.push(
      await run(`images ${td.runnerName}`, () =>
        checkImages(deps, td.images, "of the manager task definition"),
      ),
    );
  }
  const helperImages = [
    ...new Set(
      [resources.helperImage, ...Object.values(resources.helperImages ?? {})].filter((i): i is string => !!i),
    ),
  ];
  if (helperImages.length > 0) {
    results.push(await run("images helper", () => checkImages(deps, helperImages, "of job tasks (helper)")));
  }
  return results;
}

async function checkGitlabToken(deps: DoctorDeps): Promise<CheckOutcome> {
  const { gitlab } = deps;
  if (!gitlab)
    return fail(
      "GITLAB_TOKEN is not set",
      "export GITLAB_TOKEN=<token with api scope> (or run in a terminal to be prompted)",
    );
  try {
    const user = await gitlab.currentUser();
    return ok(`valid (user ${user.username})`);
  } catch (err) {
    if ((err as { status?: number }).status === 401) {
      return fail(
        "GitLab refused the token (401)",
        "create a new personal/project access token with api scope and set GITLAB_TOKEN",
      );
    }
    throw err;
  }
}

async function checkRunnerToken(deps: DoctorDeps, runner: Config["runners"][number]): Promise<CheckOutcome> {
  const { gitlab } = deps;
  const parameter = runnerTokenParameterName(runner);
  const token = await readSecret(deps.aws.ssm, parameter);
  if (!token?.trim())
    return fail(
      `${parameter} is missing or empty`,
      "run: sgr setup (creates the runner and stores its token)",
    );
  if (!token.startsWith("glrt-")) {
    return fail(
      `${parameter} does not hold a glrt- authentication token`,
      "run: sgr setup --rotate-runner-token",
    );
  }
  if (!gitlab) return ok(`${parameter} readable (not verified with GitLab: no GITLAB_TOKEN)`);
  return (await gitlab.verifyRunnerToken(token))
    ? ok(`${parameter} readable and accepted by GitLab`)
    : fail(
        `GitLab rejects the token in ${parameter} (runner deleted or token expired)`,
        "run: sgr setup --rotate-runner-token",
      );
}

async function checkWebhookSecret(deps: DoctorDeps, config: Config): Promise<CheckOutcome> {
  const secret = await readSecret(deps.aws.ssm, config.ssm.webhookSecretParameter);
  return secret?.trim()
    ? ok(`${config.ssm.webhookSecretParameter} readable`)
    : fail(
        `${config.ssm.webhookSecretParameter} is missing or empty`,
        "run: sgr setup (generates it and sets it on the webhook)",
      );
}

async function checkWebhook(
  deps: DoctorDeps,
  deployment: Deployment,
  target: HookTarget | undefined,
): Promise<CheckOutcome> {
  const { gitlab } = deps;
  if (!gitlab || !target)
    return fail("not checked", "pass --project <id|path> or --group <id|path> and set GITLAB_TOKEN");
  const hooks = await gitlab.listHooks(target);
  const hook = hooks.find((h) => h.url === deployment.webhookUrl);
  if (!hook) {
    const others = hooks.map((h) => h.url).join(", ") || "none";
    return fail(
      `no webhook of ${target.kind} ${target.id} points at the deployed ${deployment.webhookUrl} (hooks: ${others})`,
      "run: sgr setup (creates or updates the webhook)",
    );
  }
  const full = await gitlab.getHook(target, hook.id);
  if (!full.job_events) return fail(`webhook #${hook.id} does not send job events`, "run: sgr setup");
  if (
    full.alert_status === "disabled" ||
    full.alert_status === "temporarily_disabled" ||
    (full.disabled_until && Date.parse(full.disabled_until) > Date.now())
  ) {
    return fail(
      `GitLab disabled webhook #${hook.id} after failed deliveries (${full.alert_status ?? "disabled"}${full.disabled_until ? ` until ${full.disabled_until}` : ""})`,
      "fix the cause (see the hook's Recent events in GitLab, or the webhook function's logs), then run: sgr setup (its test delivery re-enables the hook)",
    );
  }
  return ok(`#${hook.id} points at the deployed URL and is enabled`);
}

async function checkCluster(deps: DoctorDeps, resources: Deployment["resources"]): Promise<CheckOutcome> {
  const out = await deps.aws.ecs.send(new DescribeClustersCommand({ clusters: [resources.clusterArn] }));
  const cluster = out.clusters?.[0];
  return cluster?.status === "ACTIVE"
    ? ok(`${cluster.clusterName} is ACTIVE`)
    : fail(
        `cluster ${resources.clusterArn} is ${cluster?.status ?? "missing"}`,
        "redeploy the stack (npm run deploy)",
      );
}

async function checkSubnets(deps: DoctorDeps, resources: Deployment["resources"]): Promise<CheckOutcome> {
  try {
    const out = await deps.aws.ec2.send(new DescribeSubnetsCommand({ SubnetIds: resources.subnetIds }));
    const found = new Set((out.Subnets ?? []).map((s) => s.SubnetId));
    const missing = resources.subnetIds.filter((id) => !found.has(id));
    return missing.length === 0
      ? ok(`${resources.subnetIds.length} subnet(s) exist`)
      : fail(
          `subnet(s) ${missing.join(", ")} do not exist`,
          "fix network.subnetIds in the config file and redeploy",
        );
  } catch (err) {
    if ((err as { name?: string }).name === "InvalidSubnetID.NotFound") {
      return fail(
        `subnet(s) of ${resources.subnetIds.join(", ")} do not exist`,
        "fix network.subnetIds in the config file and redeploy",
      );
    }
    throw err;
  }
}

const ECR_IMAGE =
  /^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$/;

/** Images in ECR must exist (pushed by the deploy); others are pulled by ECS at start and not checked here. */
async function checkImages(deps: DoctorDeps, images: string[], what: string) {
  const missing: string[] = [];
  for (const image of images) {
    const m = ECR_IMAGE.exec(image);
    if (!m) continue; // a public registry image: ECS pulls it at start, nothing to check here
    const [, registryId, repositoryName, tag, digest] = m;
    try {
      await deps.aws.ecr.send(
        new DescribeImagesCommand({
          registryId,
          repositoryName,
          imageIds: [digest ? { imageDigest: digest } : { imageTag: tag ?? "latest" }],
        }),
      );
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === "ImageNotFoundException" || name === "RepositoryNotFoundException") missing.push(image);
      else throw err;
    }
  }
  return missing.length === 0
    ? ok(`${images.length} image(s) ${what} resolvable`)
    : fail(`not in ECR: ${missing.join(", ")}`, "push the images (npm run deploy builds and pushes them)");
}

/** One line per check, then a summary. */
export function formatDoctor(results: CheckResult[]): string {
  const lines = results.map(
    (r) =>
      `${r.ok ? "ok  " : "FAIL"}  ${r.check}: ${r.detail}${r.ok || !r.fix ? "" : `\n      fix: ${r.fix}`}`,
  );
  const failed = results.filter((r) => !r.ok).length;
  lines.push(
    "",
    failed === 0 ? `all ${results.length} checks passed` : `${failed} of ${results.length} checks failed`,
  );
  return `${lines.join("\n")}\n`;
}

/** 0 all passed, 1 some check failed, 3 only unreachable services failed (a retry may pass). */
export function doctorExitCode(results: CheckResult[]): number {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return EXIT.ok;
  return failed.every((r) => r.unreachable) ? EXIT.unreachable : EXIT.checkFailed;
}
