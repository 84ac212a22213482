/**
 * RunTask on Fargate with the one fallback the product allows: Fargate Spot without capacity → on-demand Fargate.
 * Scale-up starts manager tasks and the driver starts job tasks through it, so both read "no capacity" the same way.
 */
import {
  RunTaskCommand,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Task,
} from "@aws-sdk/client-ecs";
import type { Capacity } from "../config/schema.js";
import { type BackoffOptions, type EcsApi, errorMessage, withBackoff } from "./ecs.js";

/**
 * How ECS says Fargate (Spot) has no capacity right now: RunTask returns no task and a failure whose reason
 * reads "Capacity is unavailable at this time. Please try again later or in a different availability zone"
 * (AWS knowledge center, "ecs-fargate-runtask-capacity"); some paths raise it as an exception with that
 * message instead, and a Spot task can stop with it before it is reachable. All are matched.
 */
const CAPACITY_UNAVAILABLE =
  /capacity is unavailable|insufficient capacity|no (spot )?capacity|capacity.*not available|RESOURCE:FARGATE/i;

/** Whether a RunTask failure reason, a stop reason or an error means "no capacity now". */
export function isCapacityUnavailable(reasonOrError: unknown): boolean {
  if (reasonOrError === undefined || reasonOrError === null) return false;
  if (typeof reasonOrError === "string") return CAPACITY_UNAVAILABLE.test(reasonOrError);
  const err = reasonOrError as { message?: string; name?: string };
  return CAPACITY_UNAVAILABLE.test(`${err.name ?? ""} ${err.message ?? ""}`);
}

/** The capacity provider asked for has no capacity: the one failure that falls back to on-demand. */
export class CapacityUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CapacityUnavailableError";
  }
}

/** RunTask answered without a task, for reasons that are not a lack of capacity (`reasons` may be empty). */
export class RunTaskFailedError extends Error {
  constructor(readonly reasons: string[]) {
    super(`RunTask started no task: ${reasons.join("; ") || "no task and no failure"}`);
    this.name = "RunTaskFailedError";
  }
}

export interface RunTaskOptions {
  /** Retries of the call itself (e.g. on throttling); without it the SDK's own retries are all. */
  retry?: Omit<BackoffOptions, "signal">;
  signal?: AbortSignal;
}

/** One RunTask call for one task: the task, or CapacityUnavailableError, or RunTaskFailedError. */
export async function runOneTask(
  ecs: EcsApi,
  input: RunTaskCommandInput,
  options: RunTaskOptions = {},
): Promise<Task> {
  const send = () => ecs.send(new RunTaskCommand(input), { abortSignal: options.signal });
  let out: RunTaskCommandOutput;
  try {
    out = options.retry
      ? await withBackoff(send, { ...options.retry, signal: options.signal })
      : await send();
  } catch (err) {
    if (isCapacityUnavailable(err)) throw new CapacityUnavailableError(errorMessage(err), { cause: err });
    throw err;
  }
  const task = out.tasks?.[0];
  if (task?.taskArn) return task;
  const reasons = (out.failures ?? []).map((f) => [f.reason, f.detail].filter(Boolean).join(": "));
  if (reasons.some((reason) => isCapacityUnavailable(reason))) {
    throw new CapacityUnavailableError(reasons.join("; "));
  }
  throw new RunTaskFailedError(reasons);
}

export interface Launched<T> {
  value: T;
  /** Where it actually runs: FARGATE when Spot had no capacity. */
  capacity: Capacity;
  spotFallback: boolean;
}

/**
 * Runs `launch` on `capacity`; when that is FARGATE_SPOT and it throws CapacityUnavailableError, says why through
 * `onFallback` and runs it once more on FARGATE. Any other failure, and a fallback without capacity, is thrown.
 */
export async function withSpotFallback<T>(
  capacity: Capacity,
  launch: (capacity: Capacity) => Promise<T>,
  onFallback?: (reason: string) => void,
): Promise<Launched<T>> {
  try {
    return { value: await launch(capacity), capacity, spotFallback: false };
  } catch (err) {
    if (capacity !== "FARGATE_SPOT" || !(err instanceof CapacityUnavailableError)) throw err;
    onFallback?.(err.message);
    return { value: await launch("FARGATE"), capacity: "FARGATE", spotFallback: true };
  }
}
