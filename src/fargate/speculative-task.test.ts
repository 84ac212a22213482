import { describe, expect, it } from "vitest";
import { speculativeTaskOf } from "../../test/support/speculative-tasks.js";
import {
  asJobTaskRecipe,
  type JobTaskRecipe,
  parseS3ObjectArn,
  recipeMismatch,
  secretFileArnOf,
  secretFileBody,
  secretFromFile,
} from "./speculative-task.js";

const RECIPE: JobTaskRecipe = {
  taskDefinitionArn: "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-abc:3",
  cpu: 1024,
  memoryMiB: 2048,
  ephemeralStorageGiB: 20,
  capacity: "FARGATE_SPOT",
  architecture: "x86_64",
  image: "node:24",
  services: [],
};

const taskOf = speculativeTaskOf;

describe("recipeMismatch", () => {
  it("accepts the same definition, size and capacity, and Spot's on-demand fallback", () => {
    expect(recipeMismatch(taskOf(RECIPE), RECIPE)).toBeUndefined();
    expect(recipeMismatch(taskOf(RECIPE, "FARGATE"), RECIPE)).toBeUndefined();
  });

  it("names what differs: definition (image, services, architecture), size, or capacity", () => {
    const other = { ...RECIPE, taskDefinitionArn: RECIPE.taskDefinitionArn.replace(":3", ":4") };
    expect(recipeMismatch(taskOf(RECIPE), other)).toMatch(/the job needs .*sgr-job-abc:4/);
    expect(recipeMismatch(taskOf(RECIPE), { ...RECIPE, memoryMiB: 4096 })).toMatch(/size/);
    expect(recipeMismatch(taskOf(RECIPE), { ...RECIPE, ephemeralStorageGiB: 50 })).toMatch(/50 GiB/);
    const onDemand = { ...RECIPE, capacity: "FARGATE" as const };
    expect(recipeMismatch(taskOf(RECIPE), onDemand)).toMatch(/FARGATE_SPOT, the job asks for FARGATE/);
  });
});

describe("asJobTaskRecipe", () => {
  it("takes a complete Fargate recipe and nothing else", () => {
    expect(asJobTaskRecipe({ ...RECIPE })).toEqual(RECIPE);
    expect(asJobTaskRecipe({ ...RECIPE, capacity: "MANAGED_INSTANCES" })).toBeUndefined();
    expect(asJobTaskRecipe({ ...RECIPE, cpu: "1024" })).toBeUndefined();
    expect(asJobTaskRecipe(undefined)).toBeUndefined();
  });
});

describe("the secret file", () => {
  it("is named in the helper's environmentFiles, and round-trips its secret", () => {
    const task = taskOf(RECIPE);
    expect(secretFileArnOf(task)).toBe("arn:aws:s3:::bucket/speculative/default/42/n.env");
    expect(parseS3ObjectArn(secretFileArnOf(task)!)).toEqual({
      bucket: "bucket",
      key: "speculative/default/42/n.env",
    });
    expect(secretFromFile(secretFileBody("s".repeat(64)))).toBe("s".repeat(64));
    expect(secretFromFile("OTHER=1\n")).toBeUndefined();
    expect(parseS3ObjectArn("arn:aws:s3:::bucket")).toBeUndefined();
  });

  it("the override carries the adopt deadline and the job's identity, no secret", () => {
    const helper = taskOf(RECIPE).overrides?.containerOverrides?.[0];
    expect(helper?.environment).toEqual(
      expect.arrayContaining([
        { name: "SGR_ADOPT_DEADLINE_SECONDS", value: "90" },
        { name: "SGR_JOB_ID", value: "42" },
      ]),
    );
    expect(helper?.environment?.some((e) => e.name === "SGR_AGENT_SECRET")).toBe(false);
  });
});
