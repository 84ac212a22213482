import { describe, expect, it } from "vitest";
import { ConfigError, loadConfigFromEnv, parseConfig } from "./load.js";
import { runnerTokenParameterName } from "./schema.js";

const minimal = {
  gitlab: { url: "https://gitlab.example.com/" },
  runners: [{ name: "default", tags: ["fargate"] }],
};

function issuesOf(input: unknown): readonly string[] {
  try {
    parseConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration schema", () => {
  it("applies defaults to a minimal configuration", () => {
    const config = parseConfig(minimal);
    expect(config.gitlab.url).toBe("https://gitlab.example.com");
    const runner = config.runners[0]!;
    expect(runner.concurrent).toBe(10);
    expect(runner.jobs.capacity).toBe("FARGATE_SPOT");
    expect(runner.jobs.defaultSize).toEqual({ cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 21 });
    expect(runner.manager.capacity).toBe("FARGATE");
    expect(config.webhook.maxBodyBytes).toBe(1048576);
    expect(config.ssm.webhookSecretParameter).toBe("/serverless-gitlab-runner/webhook-secret");
    expect(runnerTokenParameterName(runner)).toBe("/serverless-gitlab-runner/default/runner-token");
  });

  it("refuses tasks without a public IP unless they run in the operator's own VPC and subnets", () => {
    expect(issuesOf({ ...minimal, network: { assignPublicIp: false } })).toEqual([
      expect.stringMatching(/^network\.assignPublicIp: false requires vpcId and subnetIds .*route out/),
    ]);
    expect(issuesOf({ ...minimal, network: { vpcId: "vpc-0abc" } })).toEqual([
      expect.stringMatching(/^network\.subnetIds: required with vpcId/),
    ]);
    const own = { vpcId: "vpc-0abc", subnetIds: ["subnet-0abc"], assignPublicIp: false };
    expect(parseConfig({ ...minimal, network: own }).network).toEqual(own);
  });

  it("wakes idle managers by default, and names a bad wake or check interval setting", () => {
    const runner = parseConfig(minimal).runners[0]!;
    expect(runner.wake).toEqual({ enabled: true, pollMs: 500 });
    expect(runner.checkIntervalSeconds).toBe(3);
    const bad = {
      ...minimal,
      runners: [
        { name: "default", tags: ["x"], checkIntervalSeconds: 0, wake: { pollMs: 10, when: "always" } },
      ],
    };
    expect(issuesOf(bad)).toEqual([
      expect.stringMatching(/^runners\.0\.checkIntervalSeconds: /),
      expect.stringMatching(/^runners\.0\.wake\.pollMs: /),
      expect.stringMatching(/^runners\.0\.wake: .*when/),
    ]);
  });

  it("names the failing field", () => {
    expect(issuesOf({ ...minimal, gitlab: { url: "not a url" } })).toEqual([
      expect.stringMatching(/^gitlab\.url: /),
    ]);
    expect(issuesOf({ ...minimal, runners: [{ name: "Bad Name", tags: ["x"] }] })).toEqual([
      expect.stringMatching(/^runners\.0\.name: /),
    ]);
    expect(issuesOf({ ...minimal, runners: [{ name: "a1", tags: ["x"], idleTimeoutSeconds: 5 }] })).toEqual([
      expect.stringMatching(/^runners\.0\.idleTimeoutSeconds: /),
    ]);
  });

  it("rejects unknown keys, duplicate names and runners that can never take a job", () => {
    expect(issuesOf({ ...minimal, extra: 1 })[0]).toMatch(/extra|Unrecognized/);
    expect(
      issuesOf({
        ...minimal,
        runners: [
          { name: "dup", tags: ["a"] },
          { name: "dup", tags: ["b"] },
        ],
      }),
    ).toEqual(["runners.1.name: duplicate name 'dup'"]);
    expect(issuesOf({ ...minimal, runners: [{ name: "untagged" }] })).toEqual([
      expect.stringMatching(/^runners\.0\.runUntagged: /),
    ]);
  });

  it("keeps job defaults within their caps", () => {
    const issues = issuesOf({
      ...minimal,
      runners: [{ name: "big", tags: ["x"], jobs: { defaultSize: { cpu: 8192 }, maxSize: { cpu: 4096 } } }],
    });
    expect(issues).toEqual([expect.stringMatching(/^runners\.0\.jobs\.defaultSize\.cpu: must not exceed/)]);
  });

  it("refuses a Spot manager on arm64, naming the field", () => {
    const manager = (settings: Record<string, unknown>) => ({
      ...minimal,
      runners: [{ name: "default", tags: ["fargate"], manager: settings }],
    });
    expect(issuesOf(manager({ capacity: "FARGATE_SPOT" }))).toEqual([
      expect.stringMatching(/^runners\.0\.manager\.capacity: Fargate Spot does not run arm64 tasks/),
    ]);
    const spotX86 = parseConfig(manager({ capacity: "FARGATE_SPOT", architecture: "x86_64" }));
    expect(spotX86.runners[0]!.manager).toMatchObject({ capacity: "FARGATE_SPOT", architecture: "x86_64" });
  });

  it("reads from the environment with clear errors", () => {
    expect(() => loadConfigFromEnv({})).toThrow(/SGR_CONFIG is not set/);
    expect(() => loadConfigFromEnv({ SGR_CONFIG: "{" })).toThrow(/SGR_CONFIG is not valid JSON/);
    expect(loadConfigFromEnv({ SGR_CONFIG: JSON.stringify(minimal) }).runners).toHaveLength(1);
  });
});

describe("job task settings for the fargate backend", () => {
  it("maps registry credentials to registry hosts and refuses the old single secret with a way forward", () => {
    const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-AbCdEf";
    const withJobs = (jobs: Record<string, unknown>) => ({
      ...minimal,
      runners: [{ name: "default", tags: ["fargate"], jobs }],
    });
    const mapped = parseConfig(
      withJobs({ registryCredentials: { "Registry.Example.com:5000": arn, "index.docker.io": `${arn}2` } }),
    );
    expect(mapped.runners[0]!.jobs.registryCredentials).toEqual({
      "registry.example.com:5000": arn,
      "docker.io": `${arn}2`,
    });
    expect(parseConfig(minimal).runners[0]!.jobs.registryCredentials).toEqual({});
    expect(issuesOf(withJobs({ registryCredentials: { "registry.example.com": "my-secret" } }))).toEqual([
      expect.stringMatching(
        /^runners\.0\.jobs\.registryCredentials\.registry\.example\.com: must be a Secrets Manager/,
      ),
    ]);
    expect(issuesOf(withJobs({ registryCredentials: { "https://registry.example.com/": arn } }))).toEqual([
      expect.stringMatching(/^runners\.0\.jobs\.registryCredentials.*must be a registry host name/),
    ]);
    expect(issuesOf(withJobs({ repositoryCredentialsSecretArn: arn }))).toEqual([
      expect.stringMatching(
        /^runners\.0\.jobs\.repositoryCredentialsSecretArn: replaced by registryCredentials/,
      ),
    ]);
  });

  it("keeps job-task resource identifiers optional", async () => {
    const { parseResources } = await import("./load.js");
    const base = {
      eventBusName: "bus",
      stateTableName: "table",
      clusterArn: "cluster",
      subnetIds: ["subnet-1"],
      managerSecurityGroupIds: ["sg-1"],
      managerTaskDefinitions: { default: "mgr" },
    };
    expect(parseResources(base).helperImage).toBeUndefined();
    const full = parseResources({
      ...base,
      jobTaskRoleArn: "arn:aws:iam::123456789012:role/job",
      jobExecutionRoleArn: "arn:aws:iam::123456789012:role/exec",
      helperImage: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sgr-helper:1.0.0",
      jobLogGroupName: "/sgr/jobs",
    });
    expect(full.jobLogGroupName).toBe("/sgr/jobs");
    expect(() => parseResources({ ...base, helperImage: "" })).toThrow(/helperImage/);
    expect(parseResources({ ...base, jobFamilyScope: "0a1b2c3d" }).jobFamilyScope).toBe("0a1b2c3d");
    expect(() => parseResources({ ...base, jobFamilyScope: "prod" })).toThrow(
      /jobFamilyScope: must be 8 lowercase hex digits/,
    );
  });
});

describe("webhook signature requirement", () => {
  it("defaults to off and needs a signing token parameter when on", () => {
    expect(parseConfig(minimal).webhook.requireSignature).toBe(false);
    expect(issuesOf({ ...minimal, webhook: { requireSignature: true } })).toEqual([
      "webhook.requireSignature: requires ssm.webhookSigningTokenParameter",
    ]);
    const signed = parseConfig({
      ...minimal,
      ssm: { webhookSigningTokenParameter: "/sgr/signing" },
      webhook: { requireSignature: true },
    });
    expect(signed.webhook.requireSignature).toBe(true);
  });

  it("keeps Managed Instances, privileged jobs and GPUs off by default", () => {
    const { jobs } = parseConfig(minimal).runners[0]!;
    expect(jobs.managedInstances).toEqual({ enabled: false, maxGpus: 0 });
    expect(jobs.allowPrivileged).toBe(false);
  });

  it("refuses privileged jobs and GPUs on a runner without Managed Instances, naming the field", () => {
    const network = { vpcId: "vpc-0abc", subnetIds: ["subnet-0abc"], assignPublicIp: false };
    const runner = (jobs: unknown) => ({
      ...minimal,
      network,
      runners: [{ name: "default", tags: ["x"], jobs }],
    });
    expect(issuesOf(runner({ allowPrivileged: true }))).toEqual([
      expect.stringMatching(/^runners\.0\.jobs\.allowPrivileged: requires managedInstances\.enabled/),
    ]);
    expect(issuesOf(runner({ managedInstances: { maxGpus: 1 } }))).toEqual([
      expect.stringMatching(
        /^runners\.0\.jobs\.managedInstances\.maxGpus: requires managedInstances\.enabled/,
      ),
    ]);
    expect(issuesOf(runner({ managedInstances: { enabled: true, maxGpus: 9 } }))).toEqual([
      expect.stringMatching(/^runners\.0\.jobs\.managedInstances\.maxGpus/),
    ]);
    const allowed = parseConfig(
      runner({ managedInstances: { enabled: true, maxGpus: 1 }, allowPrivileged: true }),
    );
    expect(allowed.runners[0]!.jobs.allowPrivileged).toBe(true);
  });

  it("refuses Managed Instances on a network whose tasks reach out only through public addresses", () => {
    const input = {
      ...minimal,
      runners: [{ name: "default", tags: ["x"], jobs: { managedInstances: { enabled: true } } }],
    };
    expect(issuesOf(input)).toEqual([
      expect.stringMatching(
        /^runners\.0\.jobs\.managedInstances\.enabled: requires network\.assignPublicIp: false .*NAT/,
      ),
    ]);
  });
});
