/**
 * The job task-definition cache: one family per distinct job shape (see layout.ts), registered
 * on first use and reused afterwards, by this process and by any other manager.
 *
 * Registering once, within and across processes:
 * - In-process, concurrent jobs with the same shape share one in-flight promise (single flight), so 50 jobs
 *   with the same image make one RegisterTaskDefinition call.
 * - Across processes (two managers, or a restarted one), every resolution first looks for an ACTIVE revision of
 *   the family and registers only when there is none. Two managers can still both find none and both register,
 *   giving revisions 1 and 2 of identical content. That is harmless: every caller then settles on the LOWEST
 *   active revision, so all managers converge on one, and the duplicate is identical anyway. We never deregister
 *   the duplicate here, because another manager may have picked it from a listing that did not show the lower one
 *   yet (ECS listings are eventually consistent); the janitor retires the whole family once it is unused.
 * - RegisterTaskDefinition is rate limited (throttling, and "too many concurrent attempts" within one family):
 *   those errors are retried with exponential backoff, and each retry looks again first, because the attempt
 *   that throttled us may have been another manager registering the very same family.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import {
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  TagResourceCommand,
} from "@aws-sdk/client-ecs";
import { type EcsApi, errorMessage, isThrottling, withBackoff } from "../../../fargate/ecs.js";
import type { JobTaskShape } from "../../backend.js";
import {
  dayOf,
  type JobTaskDefinitionSettings,
  jobTaskDefinitionRequest,
  ownershipTags,
  TAG_LAST_USED,
} from "./layout.js";

export interface ResolvedTaskDefinition {
  /** Full ARN including the revision: RunTask uses exactly this revision. */
  arn: string;
  family: string;
  shapeHash: string;
}

/** Structured log sink (Powertools Logger fits); the cache never logs anything secret. */
export type CacheLogger = Pick<Logger, "info" | "warn">;

export interface TaskDefinitionCacheOptions {
  now?: () => Date;
  logger?: CacheLogger;
  /** Attempts for a throttled registration (default 8, about a minute of backoff in total at worst). */
  registerAttempts?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** `…:task-definition/<family>:<revision>` → [family, revision]. */
export function parseTaskDefinitionArn(arn: string): { family: string; revision: number } | undefined {
  const match = /task-definition\/([A-Za-z0-9_-]+):(\d+)$/.exec(arn);
  if (!match) return undefined;
  return { family: match[1]!, revision: Number(match[2]) };
}

/** Every ARN of a family with the given status (ListTaskDefinitions' familyPrefix is a prefix: keep exact matches). */
export async function listFamilyRevisions(
  ecs: EcsApi,
  family: string,
  status: "ACTIVE" | "INACTIVE",
): Promise<{ arn: string; revision: number }[]> {
  const out: { arn: string; revision: number }[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecs.send(
      new ListTaskDefinitionsCommand({ familyPrefix: family, status, sort: "ASC", nextToken }),
    );
    for (const arn of page.taskDefinitionArns ?? []) {
      const parsed = parseTaskDefinitionArn(arn);
      if (parsed?.family === family) out.push({ arn, revision: parsed.revision });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return out.sort((a, b) => a.revision - b.revision);
}

export class TaskDefinitionCache {
  /** family → the (possibly in-flight) resolution; a failed one is removed so the next job tries again. */
  private readonly resolutions = new Map<string, Promise<ResolvedTaskDefinition>>();
  /** ARN → UTC day its `sgr:last-used` tag was last written, so it is written at most once a day. */
  private readonly lastUsedTagged = new Map<string, string>();
  private readonly now: () => Date;
  /** Registrations this process made (for logs and tests). */
  registrations = 0;

  constructor(
    private readonly ecs: EcsApi,
    private readonly settings: JobTaskDefinitionSettings,
    private readonly options: TaskDefinitionCacheOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** The task definition for this shape: cached, found in ECS, or registered now. */
  async resolve(shape: JobTaskShape): Promise<ResolvedTaskDefinition> {
    const request = jobTaskDefinitionRequest(shape, this.settings);
    let resolution = this.resolutions.get(request.family);
    if (!resolution) {
      resolution = this.findOrRegister(request.family, request.shapeHash, request.input);
      this.resolutions.set(request.family, resolution);
      resolution.catch(() => this.resolutions.delete(request.family));
    }
    const resolved = await resolution;
    await this.markUsed(resolved.arn);
    return resolved;
  }

  /** Forgets a family (RunTask said its revision is inactive: the janitor retired it under us). */
  invalidate(family: string): void {
    this.resolutions.delete(family);
  }

  private async findOrRegister(
    family: string,
    shapeHash: string,
    input: ReturnType<typeof jobTaskDefinitionRequest>["input"],
  ): Promise<ResolvedTaskDefinition> {
    const attempt = async (): Promise<ResolvedTaskDefinition> => {
      const existing = (await listFamilyRevisions(this.ecs, family, "ACTIVE"))[0];
      if (existing) return { arn: existing.arn, family, shapeHash };
      const tags = ownershipTags(shapeHash, this.now());
      const registered = await this.ecs.send(new RegisterTaskDefinitionCommand({ ...input, tags }));
      this.registrations++;
      const arn = registered.taskDefinition?.taskDefinitionArn;
      if (!arn) throw new Error(`RegisterTaskDefinition for ${family} returned no ARN`);
      this.lastUsedTagged.set(arn, dayOf(this.now()));
      this.options.logger?.info("registered job task definition", { family, arn });
      // Another manager may have registered the same family at the same moment: settle on the lowest revision.
      const lowest = (await listFamilyRevisions(this.ecs, family, "ACTIVE"))[0];
      return { arn: lowest?.arn ?? arn, family, shapeHash };
    };
    return withBackoff(attempt, {
      attempts: this.options.registerAttempts ?? 8,
      baseDelayMs: this.options.baseDelayMs ?? 500,
      maxDelayMs: 15_000,
      isRetryable: (err) => {
        const retry = isThrottling(err);
        if (retry)
          this.options.logger?.warn("task definition call throttled, backing off", {
            family,
            error: errorMessage(err),
          });
        return retry;
      },
      sleep: this.options.sleep,
    });
  }

  /** Refreshes `sgr:last-used` at most once a UTC day per revision; the janitor retires definitions by it. */
  private async markUsed(arn: string): Promise<void> {
    const today = dayOf(this.now());
    if (this.lastUsedTagged.get(arn) === today) return;
    this.lastUsedTagged.set(arn, today);
    try {
      await this.ecs.send(
        new TagResourceCommand({ resourceArn: arn, tags: [{ key: TAG_LAST_USED, value: today }] }),
      );
    } catch (err) {
      // A missed tag only makes the definition look older to the janitor; try again on the next use.
      this.lastUsedTagged.delete(arn);
      this.options.logger?.warn("could not tag task definition as used", { arn, error: errorMessage(err) });
    }
  }
}
