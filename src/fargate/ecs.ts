/**
 * The one ECS client shape every caller is given, and the helpers they share: retry with backoff for ECS's rate
 * limits, batching, task ids.
 * type they are given, retry with backoff for ECS's rate limits, and batching.
 */
import type { ECSClient } from "@aws-sdk/client-ecs";

/** The only part of an ECS client our code uses: tests can pass a small hand-written fake. */
export type EcsApi = Pick<ECSClient, "send">;

/** Error name as SDK v3 reports it (`ThrottlingException`, `ClientException`, …). */
export function errorName(err: unknown): string {
  return typeof err === "object" && err !== null && "name" in err
    ? String((err as { name: unknown }).name)
    : "";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * ECS rate limits answer with ThrottlingException ("Rate exceeded"); registering into one family from several
 * callers at once answers ClientException "Too many concurrent attempts to create a new revision". Both pass.
 */
export function isThrottling(err: unknown): boolean {
  const name = errorName(err);
  if (name === "ThrottlingException" || name === "TooManyRequestsException") return true;
  return /rate exceeded|too many concurrent attempts/i.test(errorMessage(err));
}

export interface BackoffOptions {
  /** Total attempts including the first. */
  attempts: number;
  /** First delay; each further delay doubles, with full jitter, capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  isRetryable: (err: unknown) => boolean;
  signal?: AbortSignal;
  /** Injected so unit tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `operation`, retrying errors `isRetryable` accepts with exponential backoff and full jitter. */
export async function withBackoff<T>(operation: () => Promise<T>, options: BackoffOptions): Promise<T> {
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (attempt >= options.attempts || !options.isRetryable(err) || options.signal?.aborted) throw err;
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      await wait(Math.max(1, Math.round(ceiling * random())));
    }
  }
}

/** Splits a list into consecutive batches of at most `size` (DescribeTasks takes 100, DeleteTaskDefinitions 10). */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The id at the end of an ECS task ARN (`arn:…:task/<cluster>/<id>` or the old `arn:…:task/<id>`). */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf("/") + 1);
}
