/**
 * Opt-in end-to-end test against a real AWS account and a real GitLab project. NOT part of the test suite.
 *
 *   GITLAB_URL=https://gitlab.com GITLAB_TOKEN=glpat-… GITLAB_PROJECT_ID=123 \
 *   AWS_PROFILE=… AWS_REGION=eu-west-1 npx tsx scripts/e2e-real-aws.ts
 *
 * Needs: AWS credentials for an account where `npx cdk bootstrap` has run, Docker (cdk deploy builds the images),
 * and a GitLab token with `api` scope and Maintainer role on the project (it creates a project runner, a webhook
 * and a branch). What it does:
 *  1. creates a project runner with a unique tag, stores its token and a webhook secret in SSM SecureStrings;
 *  2. deploys a throw-away stack (`cdk deploy`, retainData=false) and registers its webhook URL on the project;
 *  3. pushes a branch whose pipeline runs the end-to-end tier's job list (test/e2e/product.test.ts) as far as a real
 *     GitLab can stage it: a job on one image (cold path: no manager running), a job on another image with a
 *     service, and 20 jobs at once (`parallel: 20`); runs it twice (cold, then warm: the manager from the first run
 *     is still up) and records each job's queue-to-start (GitLab's `queued_duration`);
 *  4. waits for the idle stop: the scheduler drains the idle manager and no task is left running in the cluster;
 *     checks that the whole run used exactly one manager task;
 *  5. tears everything down, whatever happened, and prints the measurements as JSON.
 * Without credentials or the GitLab variables it says what is missing and exits 2.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloudFormationClient, DescribeStackResourcesCommand } from "@aws-sdk/client-cloudformation";
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from "@aws-sdk/client-ecs";
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";

const RUN_ID = `${Date.now().toString(36)}${randomBytes(2).toString("hex")}`;
const STACK_NAME = `SgrE2e${RUN_ID}`;
const TAG = `sgr-e2e-${RUN_ID}`;
const BRANCH = `sgr-e2e-${RUN_ID}`;
const PARAMETER_PREFIX = `/serverless-gitlab-runner-e2e/${RUN_ID}`;
const PIPELINE_TIMEOUT_MS = 30 * 60_000;
/** Short enough to watch the idle stop at the end of the run (the minimum the configuration allows is 60). */
const IDLE_TIMEOUT_SECONDS = 120;

interface Settings {
  gitlabUrl: string;
  gitlabToken: string;
  projectId: string;
}

interface JobTiming {
  pipeline: "cold" | "warm";
  job: string;
  status: string;
  queuedSeconds: number | null;
}

/** Everything to undo, in reverse order, whatever fails. */
const cleanups: { what: string; run: () => Promise<unknown> }[] = [];

function log(message: string): void {
  console.error(`[e2e ${new Date().toISOString()}] ${message}`);
}

async function requireSettings(): Promise<Settings> {
  const missing = ["GITLAB_URL", "GITLAB_TOKEN", "GITLAB_PROJECT_ID"].filter((name) => !process.env[name]);
  let awsProblem: string | undefined;
  try {
    await new CloudFormationClient({}).config.credentials();
  } catch (err) {
    awsProblem = `no AWS credentials (${(err as Error).message})`;
  }
  if (missing.length > 0 || awsProblem) {
    console.error(
      "This end-to-end test runs against a real AWS account and GitLab project, and cannot run here:",
    );
    if (missing.length > 0) console.error(`  missing environment: ${missing.join(", ")}`);
    if (awsProblem) console.error(`  ${awsProblem}`);
    console.error("See the comment at the top of scripts/e2e-real-aws.ts for what it needs.");
    process.exit(2);
  }
  return {
    gitlabUrl: process.env.GITLAB_URL!.replace(/\/+$/, ""),
    gitlabToken: process.env.GITLAB_TOKEN!,
    projectId: process.env.GITLAB_PROJECT_ID!,
  };
}

function gitlab(settings: Settings) {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${settings.gitlabUrl}/api/v4${path}`, {
      method,
      headers: { "PRIVATE-TOKEN": settings.gitlabToken, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok)
      throw new Error(`GitLab ${method} ${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (res.status === 204 ? undefined : await res.json()) as T;
  };
}

/** Runs the CDK CLI of this repository, streaming its output. */
function cdk(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["cdk", ...args], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`cdk ${args[0]} exited with ${code}`)),
    );
  });
}

async function putSecret(ssm: SSMClient, name: string, value: string): Promise<void> {
  await ssm.send(
    new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }),
  );
  cleanups.push({
    what: `delete SSM parameter ${name}`,
    run: () => ssm.send(new DeleteParameterCommand({ Name: name })),
  });
}

/** Two images, one with a service; the second job checks it can reach the service. */
function pipelineYaml(): string {
  return [
    "stages: [first, second, burst]",
    "alpine-job:",
    "  stage: first",
    `  tags: [${TAG}]`,
    "  image: public.ecr.aws/docker/library/alpine:3.22",
    "  script:",
    "    - cat /etc/os-release",
    "python-with-redis:",
    "  stage: second",
    `  tags: [${TAG}]`,
    "  image: public.ecr.aws/docker/library/python:3.13-slim",
    "  services:",
    "    - name: public.ecr.aws/docker/library/redis:7-alpine",
    "      alias: redis",
    "  script:",
    "    - python3 -c \"import socket; s=socket.create_connection(('redis', 6379), 30); s.sendall(b'PING\\r\\n'); print(s.recv(16))\"",
    "burst:",
    "  stage: burst",
    `  tags: [${TAG}]`,
    "  parallel: 20",
    "  image: public.ecr.aws/docker/library/alpine:3.22",
    "  script:",
    '    - echo "burst job $CI_NODE_INDEX of $CI_NODE_TOTAL"',
    "",
  ].join("\n");
}

async function runPipeline(
  api: ReturnType<typeof gitlab>,
  projectId: string,
  label: "cold" | "warm",
): Promise<JobTiming[]> {
  const pipeline = await api<{ id: number }>("POST", `/projects/${projectId}/pipeline`, { ref: BRANCH });
  log(`${label} pipeline ${pipeline.id} started`);
  const deadline = Date.now() + PIPELINE_TIMEOUT_MS;
  for (;;) {
    const jobs = await api<{ name: string; status: string; queued_duration: number | null }[]>(
      "GET",
      `/projects/${projectId}/pipelines/${pipeline.id}/jobs`,
    );
    if (
      jobs.length > 0 &&
      jobs.every((job) => ["success", "failed", "canceled", "skipped"].includes(job.status))
    ) {
      return jobs.map((job) => ({
        pipeline: label,
        job: job.name,
        status: job.status,
        queuedSeconds: job.queued_duration,
      }));
    }
    if (Date.now() > deadline) throw new Error(`${label} pipeline ${pipeline.id} did not finish in time`);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
  }
}

/** The stack's ECS cluster (managers and job tasks run there). */
async function stackCluster(): Promise<string> {
  const out = await new CloudFormationClient({}).send(
    new DescribeStackResourcesCommand({ StackName: STACK_NAME }),
  );
  const cluster = out.StackResources?.find((r) => r.ResourceType === "AWS::ECS::Cluster")?.PhysicalResourceId;
  if (!cluster) throw new Error(`stack ${STACK_NAME} has no ECS cluster`);
  return cluster;
}

/**
 * Waits until no task of the cluster is running any more (the idle manager drained and exited), at most the idle
 * timeout plus three schedule periods and the manager's stop; counts the manager tasks the run used.
 */
async function waitForIdleStop(cluster: string): Promise<{ seconds: number | null; managers: number }> {
  const ecs = new ECSClient({});
  const started = Date.now();
  const deadline = started + (IDLE_TIMEOUT_SECONDS + 5 * 60) * 1000;
  let seconds: number | null = null;
  while (Date.now() < deadline) {
    const running = await ecs.send(new ListTasksCommand({ cluster, desiredStatus: "RUNNING" }));
    if ((running.taskArns ?? []).length === 0) {
      seconds = (Date.now() - started) / 1000;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  }
  log(seconds === null ? "the idle manager was not stopped in time" : `idle stop after ${seconds} s`);
  // Stopped tasks stay listed for about an hour: every manager task of this run is still there.
  const stopped = await ecs.send(new ListTasksCommand({ cluster, desiredStatus: "STOPPED" }));
  const described = stopped.taskArns?.length
    ? await ecs.send(new DescribeTasksCommand({ cluster, tasks: stopped.taskArns.slice(0, 100) }))
    : { tasks: [] };
  const managers = (described.tasks ?? []).filter((t) => /-manager-/.test(t.taskDefinitionArn ?? "")).length;
  log(`${managers} manager task(s) served the run`);
  return { seconds, managers };
}

async function emptyBucket(bucket: string): Promise<void> {
  const s3 = new S3Client({});
  for (;;) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key! }));
    if (keys.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
}

async function main(): Promise<number> {
  const settings = await requireSettings();
  const api = gitlab(settings);
  const ssm = new SSMClient({});
  const dir = mkdtempSync(join(tmpdir(), "sgr-e2e-"));
  const timings: JobTiming[] = [];
  let failed = false;
  let idleStop: { seconds: number | null; managers: number } | undefined;
  try {
    const runner = await api<{ id: number; token: string }>("POST", "/user/runners", {
      runner_type: "project_type",
      project_id: Number(settings.projectId),
      tag_list: [TAG],
      run_untagged: false,
      description: `serverless-gitlab-runner e2e ${RUN_ID}`,
    });
    cleanups.push({ what: `delete runner ${runner.id}`, run: () => api("DELETE", `/runners/${runner.id}`) });

    const tokenParameter = `${PARAMETER_PREFIX}/runner-token`;
    const secretParameter = `${PARAMETER_PREFIX}/webhook-secret`;
    const webhookSecret = randomBytes(32).toString("hex");
    await putSecret(ssm, tokenParameter, runner.token);
    await putSecret(ssm, secretParameter, webhookSecret);

    const configPath = join(dir, "runner.json");
    writeFileSync(
      configPath,
      JSON.stringify({
        gitlab: { url: settings.gitlabUrl },
        ssm: { webhookSecretParameter: secretParameter },
        runners: [
          {
            name: "e2e",
            tags: [TAG],
            runnerTokenParameter: tokenParameter,
            concurrent: 25,
            idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS,
            minRunningSeconds: 0,
          },
        ],
      }),
    );
    const outputsPath = join(dir, "outputs.json");
    cleanups.push({
      what: `cdk destroy ${STACK_NAME}`,
      run: async () => {
        // The outputs file exists only if the deploy got that far; destroy anyway (a half-created stack too).
        const outputs = existsSync(outputsPath)
          ? (JSON.parse(readFileSync(outputsPath, "utf8"))[STACK_NAME] ?? {})
          : {};
        if (outputs.CacheBucketName) await emptyBucket(outputs.CacheBucketName);
        await cdk([
          "destroy",
          "--force",
          "-c",
          `config=${configPath}`,
          "-c",
          `stackName=${STACK_NAME}`,
          "-c",
          "retainData=false",
        ]);
      },
    });
    log(`deploying ${STACK_NAME}`);
    await cdk([
      "deploy",
      "--require-approval",
      "never",
      "--outputs-file",
      outputsPath,
      "-c",
      `config=${configPath}`,
      "-c",
      `stackName=${STACK_NAME}`,
      "-c",
      "retainData=false",
    ]);
    const outputs = JSON.parse(readFileSync(outputsPath, "utf8"))[STACK_NAME] as Record<string, string>;

    const hook = await api<{ id: number }>("POST", `/projects/${settings.projectId}/hooks`, {
      url: outputs.WebhookUrl,
      token: webhookSecret,
      job_events: true,
      push_events: false,
      enable_ssl_verification: true,
    });
    cleanups.push({
      what: `delete webhook ${hook.id}`,
      run: () => api("DELETE", `/projects/${settings.projectId}/hooks/${hook.id}`),
    });

    const project = await api<{ default_branch: string }>("GET", `/projects/${settings.projectId}`);
    await api(
      "POST",
      `/projects/${settings.projectId}/repository/branches?branch=${BRANCH}&ref=${project.default_branch}`,
    );
    cleanups.push({
      what: `delete branch ${BRANCH}`,
      run: () => api("DELETE", `/projects/${settings.projectId}/repository/branches/${BRANCH}`),
    });
    await api("POST", `/projects/${settings.projectId}/repository/commits`, {
      branch: BRANCH,
      commit_message: `serverless-gitlab-runner e2e ${RUN_ID} [skip ci]`,
      actions: [{ action: "update", file_path: ".gitlab-ci.yml", content: pipelineYaml() }],
    }).catch(() =>
      api("POST", `/projects/${settings.projectId}/repository/commits`, {
        branch: BRANCH,
        commit_message: `serverless-gitlab-runner e2e ${RUN_ID} [skip ci]`,
        actions: [{ action: "create", file_path: ".gitlab-ci.yml", content: pipelineYaml() }],
      }),
    );

    timings.push(...(await runPipeline(api, settings.projectId, "cold")));
    timings.push(...(await runPipeline(api, settings.projectId, "warm")));
    failed = timings.some((timing) => timing.status !== "success");
    const cluster = await stackCluster();
    idleStop = await waitForIdleStop(cluster);
    if (idleStop.managers !== 1 || idleStop.seconds === null) failed = true;
  } catch (err) {
    failed = true;
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        log(cleanup.what);
        await cleanup.run();
      } catch (err) {
        failed = true;
        log(`cleanup failed (${cleanup.what}): ${(err as Error).message} — remove it by hand`);
      }
    }
  }
  const firstJob = (label: "cold" | "warm") =>
    timings.find((t) => t.pipeline === label && t.job === "alpine-job");
  console.log(
    JSON.stringify(
      {
        runId: RUN_ID,
        jobs: timings,
        queueToStartSeconds: {
          cold: firstJob("cold")?.queuedSeconds ?? null,
          warm: firstJob("warm")?.queuedSeconds ?? null,
        },
        idleStop: idleStop ?? null,
        ok: !failed,
      },
      null,
      2,
    ),
  );
  return failed ? 1 : 0;
}

process.exit(await main());
