/** The extension point of `npm run bench`: every `bench/*.bench.ts` default-exports a BenchSuite. */
export interface BenchRow {
  metric: string;
  value: string;
  /** The goal as text, e.g. "≤ 80 ms"; absent for figures that are only reported. */
  goal?: string;
  /** Whether the goal is met; absent when there is no goal. */
  met?: boolean;
}

export interface BenchSuite {
  name: string;
  run(): Promise<BenchRow[]>;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}
