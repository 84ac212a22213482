/**
 * Arithmetic of the queue-to-start phases measured inside the manager and the driver (docs/metrics.md).
 * Kept apart from where they are emitted so each rule (which start time counts, what a bad clock yields) is
 * tested once.
 */

/**
 * When the job started, in ms: GitLab's CI_JOB_STARTED_AT (ISO 8601, whole seconds — the runner took the job),
 * or `fallbackMs` (the prepare stage's start) when it is absent or unreadable.
 */
export function jobStartMs(ciJobStartedAt: string | undefined, fallbackMs: number): number {
  if (!ciJobStartedAt) return fallbackMs;
  const parsed = Date.parse(ciJobStartedAt);
  return Number.isFinite(parsed) ? parsed : fallbackMs;
}

/**
 * Seconds from `fromMs` to `toMs`, or undefined when `fromMs` is not a usable time or lies after `toMs` by more
 * than `skewToleranceMs` (a clock far off would publish nonsense; a little skew — CI_JOB_STARTED_AT is truncated
 * to the second by GitLab — counts as zero).
 */
export function elapsedSeconds(
  fromMs: number | undefined,
  toMs: number,
  skewToleranceMs = 2_000,
): number | undefined {
  if (fromMs === undefined || !Number.isFinite(fromMs) || fromMs <= 0) return undefined;
  const ms = toMs - fromMs;
  if (ms < -skewToleranceMs) return undefined;
  return Math.max(0, ms) / 1000;
}
