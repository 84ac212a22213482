import { describe, expect, it } from "vitest";
import { conditionalFailure, scripted } from "../../test/support/state-fakes.js";
import { claimSpeculativeStart, readJobRecipe, recordJobRecipe } from "./job-shapes.js";
import type { StateDb } from "./table.js";

const NOW = 1_800_000_000_000;
const KEY = { runnerName: "default", projectId: 7, jobName: "unit tests" };
const RECIPE = {
  taskDefinitionArn: "arn:aws:ecs:eu-west-1:1:task-definition/sgr-job-abc:3",
  cpu: 1024,
  memoryMiB: 2048,
  ephemeralStorageGiB: 21,
  capacity: "FARGATE_SPOT",
  architecture: "arm64",
  image: "node:24",
  services: ["postgres:17"],
};

describe("job recipes", () => {
  it("are written per runner, project and job name with a TTL, and read back", async () => {
    const db = scripted<StateDb>({ PutCommand: () => ({}) });
    await recordJobRecipe({ db: db.client, tableName: "t" }, KEY, RECIPE, NOW, 14 * 86_400_000);
    expect(db.named("PutCommand")[0]).toEqual({
      TableName: "t",
      Item: {
        pk: "SHAPE#default",
        sk: "7#unit tests",
        recipe: RECIPE,
        recordedAt: NOW,
        ttl: NOW / 1000 + 14 * 86_400,
      },
    });
    const read = scripted<StateDb>({ GetCommand: () => ({ Item: { recipe: RECIPE, ttl: NOW / 1000 + 1 } }) });
    expect(await readJobRecipe({ db: read.client, tableName: "t" }, KEY, NOW)).toEqual(RECIPE);
  });

  it("reads no recipe that has expired (DynamoDB deletes late)", async () => {
    const read = (item: unknown) =>
      readJobRecipe(
        { db: scripted<StateDb>({ GetCommand: () => ({ Item: item }) }).client, tableName: "t" },
        KEY,
        NOW,
      );
    expect(await read({ recipe: RECIPE, ttl: NOW / 1000 - 1 })).toBeUndefined();
    expect(await read(undefined)).toBeUndefined();
  });
});

describe("the speculative-start claim", () => {
  it("goes to the first caller; the driver may take its own claim again, scale-up never", async () => {
    const taken = scripted<StateDb>({ PutCommand: conditionalFailure });
    expect(await claimSpeculativeStart({ db: taken.client, tableName: "t" }, "default", 42, NOW)).toBe(false);
    const free = scripted<StateDb>({ PutCommand: () => ({}) });
    expect(
      await claimSpeculativeStart({ db: free.client, tableName: "t" }, "default", 42, NOW, "driver"),
    ).toBe(true);
    expect(free.named("PutCommand")[0]).toMatchObject({
      Item: { pk: "SPECULATIVE#default", sk: "42", claimedBy: "driver" },
      ConditionExpression: "attribute_not_exists(pk) OR claimedBy = :driver",
    });
    const scaleUp = scripted<StateDb>({ PutCommand: () => ({}) });
    await claimSpeculativeStart({ db: scaleUp.client, tableName: "t" }, "default", 42, NOW);
    expect(scaleUp.named("PutCommand")[0]).toMatchObject({ ConditionExpression: "attribute_not_exists(pk)" });
  });
});
