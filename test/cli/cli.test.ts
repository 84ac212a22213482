/**
 * `sgr setup`, `status` and `doctor` end to end: a GitLab API simulator, moto (SSM, DynamoDB, SQS, ECS, ECR,
 * EC2, CloudFormation with a real stack), and the real webhook handler receiving GitLab's test delivery.
 */
import { spawnSync } from "node:child_process";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchDeleteImageCommand, ECRClient } from "@aws-sdk/client-ecr";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DeleteParameterCommand, GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { jobHook } from "../webhook/fixtures/payloads.js";
import { GitLabAdminSim } from "./gitlab-admin-sim.js";
import { type CliRun, sgr, writeConfigFile } from "./support.js";
import { type CliWorld, createCliWorld } from "./world.js";

const ssm = new SSMClient({});
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

async function secret(name: string): Promise<string | undefined> {
  try {
    return (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
  } catch {
    return undefined;
  }
}

describe("sgr against a GitLab simulator and moto", () => {
  let gitlab: GitLabAdminSim;
  let world: CliWorld;
  let configPath: string;
  const outputs: CliRun[] = [];
  const project = "acme/payments";
  const tokenParam = (runner: "default" | "big") => `/sgr-cli/${world.id}/${runner}/runner-token`;
  const secretParam = () => `/sgr-cli/${world.id}/webhook-secret`;

  async function run(
    argv: string[],
    env: Record<string, string | undefined> = { GITLAB_TOKEN: gitlab.token },
  ) {
    const result = await sgr([...argv, "-c", configPath, "--stack", world.stackName], env);
    outputs.push(result);
    return result;
  }

  beforeAll(async () => {
    gitlab = await new GitLabAdminSim().start();
    gitlab.sampleJobHook = jobHook("success");
    world = await createCliWorld(gitlab.url);
    configPath = writeConfigFile(world.config);
  });

  afterAll(async () => {
    await world?.stop();
    await gitlab?.stop();
  });

  it("setup creates the runners, stores their tokens and a webhook secret, creates the hook and sees the test delivery on the bus", async () => {
    const result = await run(["setup", "--project", project]);
    expect(result.stderr).toContain("creating runner default");
    expect(result.code, result.stderr).toBe(EXIT.ok);
    expect(gitlab.runners.map((r) => [r.description, r.tag_list, r.run_untagged, r.runner_type])).toEqual([
      [`serverless-gitlab-runner ${world.stackName}/default`, ["fargate"], false, "project_type"],
      [`serverless-gitlab-runner ${world.stackName}/big`, ["fargate", "large"], false, "project_type"],
    ]);
    expect(await secret(tokenParam("default"))).toBe(gitlab.runners[0]!.token);
    expect(await secret(tokenParam("big"))).toBe(gitlab.runners[1]!.token);
    const webhookSecret = await secret(secretParam());
    expect(webhookSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(gitlab.hooks).toHaveLength(1);
    expect(gitlab.hooks[0]).toMatchObject({
      url: world.webhookUrl,
      token: webhookSecret,
      job_events: true,
      enable_ssl_verification: true,
    });
    expect(result.stdout).toContain("test delivery: confirmed");
  });

  it("re-running setup updates instead of duplicating, and keeps tokens unless asked to rotate", async () => {
    const before = { runner: await secret(tokenParam("default")), webhook: await secret(secretParam()) };
    const again = await run(["setup", "--project", project, "--json"]);
    expect(again.code, again.stderr).toBe(EXIT.ok);
    const report = JSON.parse(again.stdout);
    expect(report.runners.map((r: { action: string; token: string }) => [r.action, r.token])).toEqual([
      ["updated", "kept"],
      ["updated", "kept"],
    ]);
    expect(report.webhook.action).toBe("updated");
    expect(report.testDelivery.state).toBe("confirmed");
    expect(gitlab.runners).toHaveLength(2);
    expect(gitlab.hooks).toHaveLength(1);
    expect(await secret(tokenParam("default"))).toBe(before.runner);
    expect(await secret(secretParam())).toBe(before.webhook);

    const rotated = await run(["setup", "--project", project, "--rotate-runner-token", "--no-test-delivery"]);
    expect(rotated.code, rotated.stderr).toBe(EXIT.ok);
    const newToken = await secret(tokenParam("default"));
    expect(newToken).toMatch(/^glrt-/);
    expect(newToken).not.toBe(before.runner);
    expect(gitlab.runners[0]!.token).toBe(newToken);
    expect(gitlab.runners).toHaveLength(2);
  });

  it("setup reports a test delivery the webhook refused with exit code 1, and rotates the webhook secret on request", async () => {
    // A hook whose deliveries carry a stale secret (what GitLab does between a hand rotation in SSM and setup).
    gitlab.testTokenOverride = "stale-secret";
    try {
      const refused = await run(["setup", "--project", project]);
      expect(refused.code).toBe(EXIT.checkFailed);
      expect(refused.stdout).toMatch(/test delivery: failed .*Hook execution failed: 401/);
      expect(refused.stdout).toContain("fix:");
    } finally {
      gitlab.testTokenOverride = undefined;
    }
    const before = await secret(secretParam());
    const rotated = await run(["setup", "--project", project, "--rotate-webhook-secret"]);
    expect(rotated.code, rotated.stderr).toBe(EXIT.ok);
    const after = await secret(secretParam());
    expect(after).not.toBe(before);
    expect(gitlab.hooks[0]!.token).toBe(after);
    expect(rotated.stdout).toContain("test delivery: confirmed");
  });

  it("setup says when GitLab cannot send a test (no CI job yet) and still succeeds", async () => {
    gitlab.projectHasJobs = false;
    try {
      const result = await run(["setup", "--project", project]);
      expect(result.code, result.stderr).toBe(EXIT.ok);
      expect(result.stdout).toMatch(/test delivery: not-sent .*Ensure the project has CI jobs/);
    } finally {
      gitlab.projectHasJobs = true;
    }
  });

  it("status shows managers, jobs with queue-to-start, webhook health, dead letters and cost, as text and JSON", async () => {
    const now = Date.now();
    // A manager record whose task ECS does not know (moto's shared server cannot run Fargate tasks): status
    // must show it as MISSING rather than trust the record.
    const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/${world.clusterName}/0123456789abcdef${world.id}`;
    const taskId = taskArn.split("/").pop()!;
    await db.send(
      new PutCommand({
        TableName: world.tableName,
        Item: {
          pk: "RUNNER#default",
          sk: "SLOT",
          state: "ACTIVE",
          ownerToken: "o",
          acquiredAt: now - 600_000,
          taskArn,
        },
      }),
    );
    await db.send(
      new PutCommand({
        TableName: world.tableName,
        Item: {
          pk: "RUNNER#default",
          sk: `MANAGER#${taskId}`,
          runnerName: "default",
          taskArn,
          taskId,
          state: "RUNNING",
          capacity: "FARGATE",
          startedAt: now - 600_000,
          runningSince: now - 555_000,
          lastJobStartedAt: now - 20_000,
          runningJobIds: new Set(["2"]),
        },
      }),
    );
    const job = (
      jobId: number,
      status: string,
      pendingAgo: number | undefined,
      runningAgo: number | undefined,
      finishedAgo?: number,
    ) => ({
      pk: `JOB#7#${jobId}`,
      sk: "JOB",
      projectId: 7,
      jobId,
      status,
      statusRank: { pending: 1, running: 2, success: 3 }[status],
      ...(pendingAgo !== undefined ? { pendingSeenAt: now - pendingAgo } : {}),
      ...(runningAgo !== undefined ? { runningSeenAt: now - runningAgo } : {}),
      ...(finishedAgo !== undefined ? { finishedSeenAt: now - finishedAgo } : {}),
      updatedAt: now - (finishedAgo ?? runningAgo ?? pendingAgo ?? 0),
      ttl: Math.floor(now / 1000) + 3600,
    });
    for (const item of [
      job(1, "success", 300_000, 270_000, 30_000),
      job(2, "running", 60_000, 20_000),
      job(3, "pending", 5_000, undefined),
    ]) {
      await db.send(new PutCommand({ TableName: world.tableName, Item: item }));
    }
    const sqs = new SQSClient({});
    await sqs.send(new SendMessageCommand({ QueueUrl: world.queueUrl, MessageBody: "{}" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: world.queueUrl, MessageBody: "{}" }));
    gitlab.hooks[0]!.alert_status = "temporarily_disabled";
    gitlab.hooks[0]!.disabled_until = new Date(now + 600_000).toISOString();

    const text = await run(["status", "--project", project]);
    expect(text.code, text.stderr).toBe(EXIT.ok);
    expect(text.stdout).toContain("default: 1 running (slot ACTIVE)");
    expect(text.stdout).toMatch(/RUNNING\/MISSING {2}FARGATE .* started in 45\.0s {2}jobs 1/);
    expect(text.stdout).toContain("Jobs: 1 running, 1 pending");
    expect(text.stdout).toMatch(/7\/1\s+success\s+30\.0s\s+4\.0m\s+\$0\.0\d+/);
    expect(text.stdout).toContain("Webhook: temporarily-disabled");
    expect(text.stdout).toContain("Dead-letter queue: 2 message(s)");

    const json = await run(["status", "--project", project, "--json"]);
    const report = JSON.parse(json.stdout);
    expect(report.runners[0].managers[0]).toMatchObject({
      taskId,
      state: "RUNNING",
      ecsStatus: "MISSING",
      startupSeconds: 45,
      runningJobs: 1,
    });
    expect(report.runners[1]).toMatchObject({ name: "big", slot: null, managers: [] });
    expect(report.jobs).toMatchObject({ pending: 1, running: 1 });
    const finished = report.jobs.recent.find((j: { jobId: number }) => j.jobId === 1);
    expect(finished).toMatchObject({
      queueToStartSeconds: 30,
      durationSeconds: 240,
      costBasis: "default-size",
    });
    // 4 minutes of a 1 vCPU / 2 GB / 21 GiB (1 GiB billed) Spot x86 job at us-east-1 list prices, plus the
    // public IPv4 address its task holds (not discounted on Spot).
    expect(finished.estimatedCostUsd).toBeCloseTo(
      (240 / 3600) * ((0.04048 + 2 * 0.004445 + 0.000111) * 0.3 + 0.005),
      8,
    );
    expect(report.webhook).toMatchObject({
      state: "temporarily-disabled",
      alertStatus: "temporarily_disabled",
    });
    expect(report.deadLetterQueue.messages).toBe(2);
    expect(report.costThisMonth.usd).toBeGreaterThan(report.costThisMonth.jobsUsd);

    // Without a GitLab token the rest still works; webhook health is "unknown" and says why.
    const noToken = await run(["status", "--json"], {});
    expect(noToken.code, noToken.stderr).toBe(EXIT.ok);
    expect(JSON.parse(noToken.stdout).webhook.state).toBe("unknown");
    gitlab.hooks[0]!.alert_status = "executable";
    gitlab.hooks[0]!.disabled_until = null;
  });

  it("doctor passes when every link works, and names each broken link with its fix", async () => {
    const healthy = await run(["doctor", "--project", project]);
    expect(healthy.stdout, healthy.stdout).toMatch(/all 10 checks passed/);
    expect(healthy.stdout).toContain("ok    images helper: 1 image(s) of job tasks (helper) resolvable");
    expect(healthy.code).toBe(EXIT.ok);

    // Break four links: a deleted token parameter, a revoked runner token, a hook pointing elsewhere, a missing image.
    await ssm.send(new DeleteParameterCommand({ Name: tokenParam("big") }));
    gitlab.runners[0]!.token = "glrt-revoked";
    const hookUrl = gitlab.hooks[0]!.url;
    gitlab.hooks[0]!.url = "https://old.example.com/hook";
    await new ECRClient({}).send(
      new BatchDeleteImageCommand({ repositoryName: world.repositoryName, imageIds: [{ imageTag: "v1" }] }),
    );
    try {
      const broken = await run(["doctor", "--project", project, "--json"]);
      expect(broken.code).toBe(EXIT.checkFailed);
      const results = JSON.parse(broken.stdout) as { check: string; ok: boolean; fix?: string }[];
      const failed = Object.fromEntries(results.filter((r) => !r.ok).map((r) => [r.check, r.fix]));
      expect(Object.keys(failed).sort()).toEqual([
        "images big",
        "images default",
        "runner token big",
        "runner token default",
        "webhook",
      ]);
      expect(failed["runner token default"]).toContain("--rotate-runner-token");
      expect(failed["runner token big"]).toContain("sgr setup");
      expect(failed.webhook).toContain("sgr setup");

      const text = await run(["doctor", "--project", project]);
      expect(text.stdout).toMatch(
        /FAIL {2}webhook: no webhook of project acme\/payments points at the deployed/,
      );
      expect(text.stdout).toContain("5 of");
    } finally {
      gitlab.hooks[0]!.url = hookUrl;
    }
    // A wrong GitLab token is one failed check, not a crash.
    const badToken = await run(["doctor", "--project", project, "--json"], { GITLAB_TOKEN: "glpat-wrong" });
    const gitlabCheck = (JSON.parse(badToken.stdout) as { check: string; ok: boolean; fix: string }[]).find(
      (r) => r.check === "gitlab token",
    );
    expect(gitlabCheck).toMatchObject({ ok: false });
    expect(gitlabCheck?.fix).toContain("GITLAB_TOKEN");
    expect(badToken.code).toBe(EXIT.checkFailed);
  });

  it("uses documented exit codes for usage errors and unreachable services", async () => {
    expect((await sgr(["frobnicate"])).code).toBe(EXIT.usage);
    expect((await sgr(["status", "--bogus-flag"])).code).toBe(EXIT.usage);
    const noTarget = await run(["setup"]);
    expect(noTarget.code).toBe(EXIT.usage);
    expect(noTarget.stderr).toContain("--project");
    const noToken = await run(["setup", "--project", project], {});
    expect(noToken.code).toBe(EXIT.usage);
    expect(noToken.stderr).toContain("GITLAB_TOKEN");
    const badConfig = await sgr(["status", "-c", writeConfigFile({ gitlab: { url: "nope" }, runners: [] })]);
    expect(badConfig.code).toBe(EXIT.usage);
    expect(badConfig.stderr).toMatch(/gitlab\.url/);
    const noStack = await sgr(["status", "-c", configPath, "--stack", "NoSuchStack"]);
    expect(noStack.code).toBe(EXIT.checkFailed);
    expect(noStack.stderr).toMatch(/stack NoSuchStack not found[\s\S]*fix:/);

    const offline = writeConfigFile({ ...world.config, gitlab: { url: "http://127.0.0.1:9" } });
    const unreachable = await sgr(
      ["setup", "--project", project, "-c", offline, "--stack", world.stackName],
      { GITLAB_TOKEN: gitlab.token },
    );
    expect(unreachable.code).toBe(EXIT.unreachable);
    expect(unreachable.stderr).toContain("GitLab unreachable");
    outputs.push(unreachable);
  });

  it("never prints a secret: not the GitLab token, runner tokens or the webhook secret", async () => {
    const secrets = [
      gitlab.token,
      ...gitlab.runners.map((r) => r.token),
      (await secret(secretParam())) ?? "missing",
      (await secret(tokenParam("default"))) ?? "missing",
    ];
    expect(outputs.length).toBeGreaterThan(8);
    const printed = outputs.map((o) => o.stdout + o.stderr).join("\n") + world.webhookLogs.join("\n");
    for (const value of secrets) expect(printed).not.toContain(value);
    expect(printed).not.toMatch(/glrt-[A-Za-z0-9_-]{10}/);
  });

  it("is runnable as a process through the package bin (what `npx sgr` runs)", () => {
    const out = spawnSync(process.execPath, ["src/cli/sgr.mjs", "--help"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("Usage: sgr <command>");
  });
});
