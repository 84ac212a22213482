/**
 * Task-definition layout (pure) and cache behaviour moto cannot show: throttled registrations, the once-a-day
 * `sgr:last-used` refresh, and a failed resolution not poisoning the cache. Fake ECS client; the moto-backed
 * tests are in test/driver/fargate-task-definitions.test.ts.
 */
import { describe, expect, it } from "vitest";
import { awsError, FakeEcs } from "../../../../test/support/fake-ecs.js";
import type { JobTaskShape } from "../../backend.js";
import { buildContainerCommand } from "../build-loop.js";
import {
  canonicalJson,
  type JobTaskDefinitionSettings,
  jobFamilyPrefix,
  jobTaskDefinitionRequest,
  needsRepositoryCredentials,
} from "./layout.js";
import { parseTaskDefinitionArn, TaskDefinitionCache } from "./task-definitions.js";

const settings: JobTaskDefinitionSettings = {
  region: "eu-west-1",
  logGroupName: "/sgr/jobs",
  executionRoleArn: "arn:aws:iam::123456789012:role/exec",
  taskRoleArn: "arn:aws:iam::123456789012:role/job",
};
const secretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-AbCdEf";

function shape(overrides: Partial<JobTaskShape> = {}): JobTaskShape {
  return {
    build: { name: "build", image: "node:24" },
    services: [],
    architecture: "x86_64",
    helperImage: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sgr-helper:1.2.3",
    ...overrides,
  };
}

describe("job task-definition layout", () => {
  it("puts the deployment's scope in the family name, and refuses a scope that could overlap another's", () => {
    const scoped = jobTaskDefinitionRequest(shape(), { ...settings, familyScope: "0a1b2c3d" });
    expect(scoped.family).toMatch(/^sgr-job-0a1b2c3d-[0-9a-f]{16}$/);
    expect(scoped.input.family).toBe(scoped.family);
    expect(scoped.family.endsWith(jobTaskDefinitionRequest(shape(), settings).shapeHash)).toBe(true);
    expect(jobFamilyPrefix()).toBe("sgr-job-");
    expect(() => jobFamilyPrefix("prod")).toThrow("job family scope 'prod' is not 8 hex digits");
  });

  it("names the family by a hash of the whole request: equal shapes share it, any difference changes it", () => {
    const base = jobTaskDefinitionRequest(shape(), settings);
    expect(base.family).toMatch(/^sgr-job-[0-9a-f]{16}$/);
    const reordered = jobTaskDefinitionRequest(
      {
        helperImage: shape().helperImage,
        architecture: "x86_64",
        services: [],
        build: { image: "node:24", name: "build" },
      },
      settings,
    );
    expect(reordered.family).toBe(base.family);
    const variants = [
      shape({ build: { name: "build", image: "node:22" } }),
      shape({ build: { name: "build", image: "node:24", entrypoint: ["/bin/bash", "-lc"] } }),
      shape({ architecture: "arm64" }),
      shape({ helperImage: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sgr-helper:1.2.4" }),
      shape({ services: [{ name: "svc-0", image: "redis:8" }] }),
    ];
    const families = variants.map((v) => jobTaskDefinitionRequest(v, settings).family);
    expect(new Set([base.family, ...families]).size).toBe(variants.length + 1);
    expect(jobTaskDefinitionRequest(shape(), { ...settings, logGroupName: "/other" }).family).not.toBe(
      base.family,
    );
  });

  it("lays out helper, build and services with the builds volume, logs and the architecture", () => {
    const withServiceVariables = (environment: Record<string, string>) =>
      jobTaskDefinitionRequest(
        shape({
          architecture: "arm64",
          build: { name: "build", image: "node:24", user: "1000" },
          services: [
            { name: "svc-0", image: "postgres:17", command: ["postgres", "-c", "fsync=off"], environment },
          ],
        }),
        settings,
      );
    const { input, family } = withServiceVariables({ B: "2", A: "1" });
    expect(input).toMatchObject({
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: "256",
      memory: "512",
      runtimePlatform: { cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" },
      executionRoleArn: settings.executionRoleArn,
      taskRoleArn: settings.taskRoleArn,
      volumes: [{ name: "builds" }, { name: "sgr" }],
    });
    const [helper, build, service] = input.containerDefinitions!;
    expect(helper).toMatchObject({
      name: "helper",
      essential: true,
      portMappings: [{ containerPort: 7443, protocol: "tcp" }],
    });
    expect(build).toMatchObject({
      name: "build",
      image: "node:24",
      essential: true,
      user: "1000",
      command: buildContainerCommand(),
      dependsOn: [{ containerName: "helper", condition: "START" }],
    });
    expect(build?.entryPoint).toBeUndefined(); // the image's own entrypoint runs, as with the Docker executor
    expect(build?.environment).toEqual([{ name: "SGR_SHARED", value: "/sgr" }]);
    expect(build?.mountPoints?.map((m) => m.containerPath)).toEqual(["/builds", "/sgr"]);
    expect(service).toMatchObject({
      name: "svc-0",
      essential: false,
      command: ["postgres", "-c", "fsync=off"],
    });
    // Service variables are RunTask overrides: never persisted in a definition, never a new family per value.
    expect(service?.environment).toBeUndefined();
    expect(withServiceVariables({ A: "9" }).family).toBe(family);
    for (const container of input.containerDefinitions!) {
      expect(container.memoryReservation).toBeGreaterThan(0);
      expect(container.logConfiguration).toMatchObject({
        logDriver: "awslogs",
        options: { "awslogs-group": "/sgr/jobs", "awslogs-region": "eu-west-1" },
      });
    }
    // No job secret or size in a definition: those are RunTask overrides.
    expect(JSON.stringify(input)).not.toMatch(/SGR_AGENT_SECRET/);
  });

  it("tells the build loop the service aliases, which are part of the cache key", () => {
    const services = [
      { name: "svc-0", image: "postgres:17", aliases: ["db", "postgres"] },
      { name: "svc-1", image: "redis:8", aliases: ["cache"] },
    ];
    const withAliases = jobTaskDefinitionRequest(shape({ services }), settings);
    const build = withAliases.input.containerDefinitions![1]!;
    expect(build.environment).toContainEqual({ name: "SGR_SERVICE_ALIASES", value: "db postgres cache" });
    const renamed = jobTaskDefinitionRequest(
      shape({ services: [{ ...services[0]!, aliases: ["pg"] }, services[1]!] }),
      settings,
    );
    expect(renamed.family).not.toBe(withAliases.family);
  });

  it("runs the command directly when the job clears an image's entrypoint", () => {
    const { input } = jobTaskDefinitionRequest(
      shape({ build: { name: "build", image: "node:24", entrypoint: [""] } }),
      settings,
    );
    const build = input.containerDefinitions![1]!;
    expect(build.entryPoint).toEqual(buildContainerCommand());
    expect(build.command).toBeUndefined();
    const service = jobTaskDefinitionRequest(
      shape({ services: [{ name: "svc-0", image: "tool:1", entrypoint: [""], command: ["tool", "serve"] }] }),
      settings,
    ).input.containerDefinitions![2]!;
    expect(service.entryPoint).toEqual(["tool", "serve"]);
    expect(service.command).toBeUndefined();
  });

  it("attaches registry credentials only to images on their registry host, never to ECR", () => {
    const hubArn = `${secretArn}-hub`;
    const registryCredentials = { "registry.example.com": secretArn, "docker.io": hubArn };
    const { input } = jobTaskDefinitionRequest(
      shape({
        build: { name: "build", image: "registry.example.com/team/app:1" },
        services: [
          { name: "svc-0", image: "public.ecr.aws/docker/library/redis:8" },
          { name: "svc-1", image: "ghcr.io/org/tool:2" },
          { name: "svc-2", image: "postgres:17" },
          { name: "svc-3", image: "registry.example.com:5000/team/cache:1" },
        ],
        registryCredentials,
      }),
      settings,
    );
    const byName = Object.fromEntries(
      input.containerDefinitions!.map((c) => [c.name, c.repositoryCredentials]),
    );
    expect(byName).toEqual({
      helper: undefined,
      build: { credentialsParameter: secretArn },
      "svc-0": undefined,
      "svc-1": undefined,
      "svc-2": { credentialsParameter: hubArn },
      "svc-3": undefined,
    });
    const ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1";
    expect(
      needsRepositoryCredentials(ecr, { "123456789012.dkr.ecr.eu-west-1.amazonaws.com": secretArn }),
    ).toBeUndefined();
    for (const image of [
      "alpine",
      "library/alpine:3",
      "index.docker.io/library/alpine",
      "registry-1.docker.io/a/b",
    ]) {
      expect(needsRepositoryCredentials(image, registryCredentials)).toBe(hubArn);
    }
    expect(needsRepositoryCredentials("ghcr.io/org/app:1", registryCredentials)).toBeUndefined();
    expect(needsRepositoryCredentials("REGISTRY.example.com/x", registryCredentials)).toBe(secretArn);
  });

  it("refuses shapes ECS would reject, with the reason", () => {
    const services = Array.from({ length: 9 }, (_, i) => ({ name: `svc-${i}`, image: "redis:8" }));
    expect(() => jobTaskDefinitionRequest(shape({ services }), settings)).toThrow(
      /at most 10 containers.*asks for 11/,
    );
    expect(() =>
      jobTaskDefinitionRequest(shape({ services: [{ name: "build", image: "x" }] }), settings),
    ).toThrow(/unique/);
    expect(() => jobTaskDefinitionRequest(shape({ build: { name: "build", image: "" } }), settings)).toThrow(
      /no image/,
    );
    expect(() => jobTaskDefinitionRequest(shape({ helperImage: "" }), settings)).toThrow(/helper image/);
  });

  it("canonical JSON ignores key order and undefined fields", () => {
    expect(canonicalJson({ b: 1, a: { d: undefined, c: [2, { y: 1, x: 0 }] } })).toBe(
      '{"a":{"c":[2,{"x":0,"y":1}]},"b":1}',
    );
  });

  it("parses task-definition ARNs", () => {
    expect(parseTaskDefinitionArn("arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-ab:12")).toEqual({
      family: "sgr-job-ab",
      revision: 12,
    });
    expect(parseTaskDefinitionArn("sgr-job-ab")).toBeUndefined();
  });
});

describe("task-definition cache (fake ECS)", () => {
  const ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/FAMILY:1";

  function fakeRegistry(): FakeEcs {
    const registered: string[] = [];
    return new FakeEcs()
      .on("ListTaskDefinitions", () => ({ taskDefinitionArns: [...registered] }))
      .on("RegisterTaskDefinition", (input) => {
        const arn = ARN.replace("FAMILY", String(input.family));
        registered.push(arn);
        return { taskDefinition: { taskDefinitionArn: arn } };
      })
      .on("TagResource", () => ({}));
  }

  it("retries a throttled registration and looks again before each retry", async () => {
    const fake = fakeRegistry();
    let throttles = 2;
    const register = fake.callsOf.bind(fake);
    const real = fake.client.send.bind(fake.client);
    const client = {
      send: (async (command: { constructor: { name: string } }) => {
        if (command.constructor.name === "RegisterTaskDefinitionCommand" && throttles-- > 0) {
          await real(command as never);
          throw awsError(
            "ClientException",
            "Too many concurrent attempts to create a new revision of the specified family.",
          );
        }
        return real(command as never);
      }) as unknown as typeof fake.client.send,
    };
    const slept: number[] = [];
    const cache = new TaskDefinitionCache(client, settings, { sleep: async (ms) => void slept.push(ms) });
    const resolved = await cache.resolve(shape());
    // The first throttled call did register: the retry finds that revision and does not register again.
    expect(register("RegisterTaskDefinition")).toHaveLength(1);
    expect(resolved.arn).toMatch(/:1$/);
    expect(slept).toHaveLength(1);
  });

  it("refreshes sgr:last-used at most once a day", async () => {
    const fake = fakeRegistry();
    let now = new Date("2026-11-27T08:00:00Z");
    const cache = new TaskDefinitionCache(fake.client, settings, { now: () => now });
    await cache.resolve(shape());
    await cache.resolve(shape());
    now = new Date("2026-11-27T23:59:00Z");
    await cache.resolve(shape());
    expect(fake.callsOf("TagResource")).toHaveLength(0); // registered today with the tag already
    now = new Date("2026-11-28T00:01:00Z");
    await cache.resolve(shape());
    await cache.resolve(shape());
    expect(fake.callsOf("TagResource")).toEqual([
      {
        resourceArn: expect.stringMatching(/sgr-job-/),
        tags: [{ key: "sgr:last-used", value: "2026-11-28" }],
      },
    ]);
  });

  it("forgets a failed resolution so the next job tries again", async () => {
    const fake = fakeRegistry().on(
      "RegisterTaskDefinition",
      () => {
        throw awsError("ClientException", "Invalid setting for container 'build'");
      },
      (input) => ({ taskDefinition: { taskDefinitionArn: ARN.replace("FAMILY", String(input.family)) } }),
    );
    const cache = new TaskDefinitionCache(fake.client, settings);
    await expect(cache.resolve(shape())).rejects.toThrow(/Invalid setting/);
    await expect(cache.resolve(shape())).resolves.toMatchObject({ arn: expect.stringMatching(/:1$/) });
  });
});
