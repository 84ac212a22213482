/**
 * The janitor's task-definition sweep at scale, against moto: with many job families (one per distinct image),
 * each run visits at most `maxFamiliesPerRun` of them, resumes where the previous run stopped (its cursor in the
 * state table), and spaces its deregister/delete writes at `writesPerSecond`. SGR_JANITOR_FAMILIES sets the count
 * (default 500; 5,000 works, see docs/architecture.md for the figures); the bound logic is the same at any count.
 */
import { randomBytes } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ListTaskDefinitionsCommand, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { type JanitorReport, runJanitor } from "../../src/control-plane/janitor.js";
import { jobFamilyPrefix, ownershipTags } from "../../src/driver/backends/fargate/layout.js";
import { janitorCursor } from "../../src/state/janitor-cursor.js";
import {
  clientsForAccount,
  countingClient,
  createTestCluster,
  minimalFargateDefinition,
} from "../driver/fargate/support.js";
import { createStateTable } from "../support/state-table.js";

const FAMILIES = Number(process.env.SGR_JANITOR_FAMILIES ?? 500);
const PER_RUN = 200;
const WRITES_PER_SECOND = 2;
const BUDGET_MS = 30_000;
const { ecs, ec2 } = clientsForAccount("310987654321");
const config = parseConfig({
  gitlab: { url: "https://gitlab.example.com" },
  runners: [{ name: "default", tags: ["fargate"] }],
  taskDefinitionRetentionDays: 14,
});

async function registerStaleFamilies(scope: string, count: number): Promise<string[]> {
  const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
  const families = Array.from(
    { length: count },
    (_, i) => `${jobFamilyPrefix(scope)}${i.toString(16).padStart(16, "0")}`,
  );
  for (let i = 0; i < families.length; i += 25) {
    await Promise.all(
      families.slice(i, i + 25).map((family) =>
        ecs.send(
          new RegisterTaskDefinitionCommand({
            ...minimalFargateDefinition(family, {
              name: "build",
              image: "alpine:3.22",
              memoryReservation: 32,
            }),
            tags: ownershipTags("0".repeat(16), longAgo),
          }),
        ),
      ),
    );
  }
  return families;
}

/** Revisions left under the scope's prefix, ACTIVE or INACTIVE (deleted ones are gone from both lists). */
async function remainingRevisions(scope: string): Promise<number> {
  let count = 0;
  for (const status of ["ACTIVE", "INACTIVE"] as const) {
    let nextToken: string | undefined;
    do {
      const page = await ecs.send(
        new ListTaskDefinitionsCommand({ familyPrefix: jobFamilyPrefix(scope), status, nextToken }),
      );
      count += page.taskDefinitionArns?.length ?? 0;
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return count;
}

describe("janitor at scale (moto)", () => {
  it(`sweeps ${FAMILIES} families in bounded runs that resume from the state table, pacing their writes`, async () => {
    const scope = randomBytes(4).toString("hex");
    const registeredAt = performance.now();
    await registerStaleFamilies(scope, FAMILIES);
    const registerMs = performance.now() - registeredAt;
    const env = await createTestCluster(ecs, ec2);
    const tableName = `janitor-cursor-${scope}`;
    await createStateTable(tableName);
    const cursor = janitorCursor({ db: DynamoDBDocumentClient.from(new DynamoDBClient({})), tableName });

    // A fake clock that only the pacing advances: the writes' spacing is measured, not waited for.
    let fakeNow = 0;
    const pauses: number[] = [];
    const { ecs: counted, sent } = countingClient(ecs);
    const reports: JanitorReport[] = [];
    const sweptAt = performance.now();
    for (let run = 0; run < FAMILIES; run++) {
      const writesBefore = sent.filter((c) => /Deregister|Delete/.test(c.name)).length;
      const pausedBefore = pauses.length;
      const report = await runJanitor(
        { ecs: counted },
        {
          config,
          cluster: env.cluster,
          familyScope: scope,
          cursor,
          maxFamiliesPerRun: PER_RUN,
          writesPerSecond: WRITES_PER_SECOND,
          sweepBudgetMs: BUDGET_MS,
          clock: () => fakeNow,
          sleep: async (ms) => {
            pauses.push(ms);
            fakeNow += ms;
          },
        },
        new Date(),
      );
      reports.push(report);
      expect(report.errors).toEqual([]);
      expect(report.familiesVisited).toBeLessThanOrEqual(PER_RUN);
      // Every write but the run's first waited for its slot, and none started past the run's time budget.
      const writes = sent.filter((c) => /Deregister|Delete/.test(c.name)).length - writesBefore;
      expect(pauses.length - pausedBefore).toBe(Math.max(writes - 1, 0));
      expect(writes).toBeLessThanOrEqual((BUDGET_MS / 1000) * WRITES_PER_SECOND + 1);
      expect(report.familiesVisited).toBeGreaterThan(0);
      if (report.resumeAfter === null) break;
    }
    const sweepMs = performance.now() - sweptAt;

    const runs = reports.length;
    // A family a run stopped in is visited again by the next one; none is skipped.
    expect(reports.reduce((sum, r) => sum + (r.familiesVisited ?? 0), 0)).toBeGreaterThanOrEqual(FAMILIES);
    expect(reports.slice(0, -1).every((r) => r.resumeAfter !== null)).toBe(true);
    expect(await cursor.load()).toBeUndefined();
    const deleted = reports.flatMap((r) => r.deleted);
    expect(new Set(deleted).size).toBe(FAMILIES);
    expect(deleted).toHaveLength(FAMILIES);
    expect(await remainingRevisions(scope)).toBe(0);
    for (const pause of pauses) expect(pause).toBeCloseTo(1000 / WRITES_PER_SECOND, 5);
    const writes = sent.filter((c) => /Deregister|Delete/.test(c.name)).length;
    if (process.env.SGR_JANITOR_REPORT) {
      process.stdout.write(
        `janitor at scale: ${FAMILIES} families registered in ${(registerMs / 1000).toFixed(1)} s; swept in ${runs} runs ` +
          `(at most ${PER_RUN} families, ${BUDGET_MS / 1000} s of writes at ${WRITES_PER_SECOND}/s each) in ` +
          `${(sweepMs / 1000).toFixed(1)} s of moto time; ${sent.length} ECS calls, ${writes} writes ` +
          `(${(writes / runs).toFixed(0)} per run)\n`,
      );
    }
  }, 600_000);
});
