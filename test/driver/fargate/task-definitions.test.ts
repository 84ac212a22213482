/**
 * The job task-definition cache against moto with real SDK v3 calls: misses register (tagged as ours), hits reuse,
 * a restarted manager finds the existing revision, and 50 concurrent prepares register exactly once.
 */
import {
  DescribeTaskDefinitionCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { jobTaskDefinitionRequest } from "../../../src/driver/backends/fargate/layout.js";
import { TaskDefinitionCache } from "../../../src/driver/backends/fargate/task-definitions.js";
import { clientsForAccount, countingClient, testDefinitionSettings, uniqueShape } from "./support.js";

const { ecs } = clientsForAccount();

async function activeRevisions(family: string): Promise<string[]> {
  const listed = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: family, status: "ACTIVE" }));
  return listed.taskDefinitionArns ?? [];
}

describe("job task-definition cache (moto)", () => {
  it("registers on a miss, with our tags and the job-task layout", async () => {
    const now = new Date("2026-11-27T10:00:00Z");
    const cache = new TaskDefinitionCache(ecs, testDefinitionSettings, { now: () => now });
    const shape = uniqueShape({ architecture: "arm64", services: [{ name: "svc-0", image: "postgres:17" }] });
    const resolved = await cache.resolve(shape);

    expect(resolved.family).toMatch(/^sgr-job-[0-9a-f]{16}$/);
    expect(resolved.arn).toMatch(new RegExp(`task-definition/${resolved.family}:1$`));
    expect(cache.registrations).toBe(1);
    const described = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: resolved.arn, include: ["TAGS"] }),
    );
    const tags = Object.fromEntries((described.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags).toEqual({
      "sgr:managed": "true",
      "sgr:shape-hash": resolved.shapeHash,
      "sgr:last-used": "2026-11-27",
    });
    const definition = described.taskDefinition!;
    expect(definition.runtimePlatform).toEqual({ cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" });
    expect(definition.requiresCompatibilities).toEqual(["FARGATE"]);
    expect(definition.networkMode).toBe("awsvpc");
    expect(definition.executionRoleArn).toBe(testDefinitionSettings.executionRoleArn);
    expect(definition.containerDefinitions?.map((c) => [c.name, c.essential])).toEqual([
      ["helper", true],
      ["build", true],
      ["svc-0", false],
    ]);
    expect(definition.containerDefinitions?.every((c) => (c.memoryReservation ?? 0) > 0)).toBe(true);
    expect(definition.containerDefinitions?.[1]?.image).toBe(shape.build.image);
    expect(definition.containerDefinitions?.[0]?.logConfiguration?.options?.["awslogs-group"]).toBe(
      "/sgr/test-jobs",
    );
  });

  it("hits the cache for the same shape and misses for another", async () => {
    const { ecs: counted, sent } = countingClient(ecs);
    const cache = new TaskDefinitionCache(counted, testDefinitionSettings);
    const shape = uniqueShape();
    const first = await cache.resolve(shape);
    const again = await cache.resolve({ ...shape, build: { ...shape.build } });
    expect(again.arn).toBe(first.arn);
    const other = await cache.resolve({ ...shape, architecture: "arm64" });
    expect(other.family).not.toBe(first.family);
    expect(sent.filter((c) => c.name === "RegisterTaskDefinitionCommand")).toHaveLength(2);
    expect(await activeRevisions(first.family)).toHaveLength(1);
    expect(await activeRevisions(other.family)).toHaveLength(1);
  });

  it("a restarted manager (new cache) reuses the existing ACTIVE revision instead of registering", async () => {
    const shape = uniqueShape();
    const first = await new TaskDefinitionCache(ecs, testDefinitionSettings).resolve(shape);
    const restarted = new TaskDefinitionCache(ecs, testDefinitionSettings);
    const resolved = await restarted.resolve(shape);
    expect(resolved.arn).toBe(first.arn);
    expect(restarted.registrations).toBe(0);
    expect(await activeRevisions(first.family)).toHaveLength(1);
  });

  it("50 concurrent prepares with the same image register exactly one revision", async () => {
    const { ecs: counted, sent } = countingClient(ecs);
    const cache = new TaskDefinitionCache(counted, testDefinitionSettings);
    const shape = uniqueShape();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cache.resolve(structuredClone(shape))),
    );
    expect(new Set(results.map((r) => r.arn)).size).toBe(1);
    expect(sent.filter((c) => c.name === "RegisterTaskDefinitionCommand")).toHaveLength(1);
    expect(await activeRevisions(results[0]!.family)).toEqual([results[0]!.arn]);
  });

  it("two managers racing on one family both settle on its lowest ACTIVE revision", async () => {
    const shape = uniqueShape();
    const { family, input } = jobTaskDefinitionRequest(shape, testDefinitionSettings);
    // Another manager registered twice already (a race both lost to nobody): revisions 1 and 2 exist.
    await ecs.send(new RegisterTaskDefinitionCommand(input));
    await ecs.send(new RegisterTaskDefinitionCommand(input));
    const [a, b] = await Promise.all([
      new TaskDefinitionCache(ecs, testDefinitionSettings).resolve(shape),
      new TaskDefinitionCache(ecs, testDefinitionSettings).resolve(shape),
    ]);
    expect(a.arn).toMatch(new RegExp(`${family}:1$`));
    expect(b.arn).toBe(a.arn);
  });

  it("two fresh managers resolving one new shape at the same moment end up on the same revision", async () => {
    const shape = uniqueShape();
    const managers = [
      new TaskDefinitionCache(ecs, testDefinitionSettings),
      new TaskDefinitionCache(ecs, testDefinitionSettings),
    ];
    const [a, b] = await Promise.all(managers.map((cache) => cache.resolve(shape)));
    // Each may have registered (both saw no revision); whoever did settles on the lowest one.
    expect(b!.arn).toBe(a!.arn);
    expect(a!.arn).toMatch(/:1$/);
  });
});
