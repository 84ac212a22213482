/** One scheduler period: review every configuration's managers, then reconcile waiting jobs. */

import { METRICS } from "../observability/metric-names.js";
import type { ControlPlaneDeps } from "./deps.js";
import { type ReviewResult, reviewManagers, sweepOrphanManagers } from "./idle-stop.js";
import { type ReconcileResult, reconcile } from "./reconcile.js";

export interface SchedulerResult {
  reviews: ReviewResult[];
  reconcile: ReconcileResult | undefined;
  errors: string[];
}

/** Runs every step even when one fails, then throws if any did (Lambda reports the error, the next period retries). */
export async function runSchedulerPeriod(deps: ControlPlaneDeps): Promise<SchedulerResult> {
  const result: SchedulerResult = { reviews: [], reconcile: undefined, errors: [] };
  let active = 0;
  for (const runner of deps.config.runners) {
    try {
      const review = await reviewManagers(deps, runner);
      review.decisions.push(...(await sweepOrphanManagers(deps, runner)).decisions);
      result.reviews.push(review);
      active += review.decisions.filter((d) => ["kept", "busy", "drain-refused"].includes(d.decision)).length;
    } catch (err) {
      result.errors.push(`runner ${runner.name}: ${(err as Error).message}`);
    }
  }
  deps.metrics.count(METRICS.managersActive, active);
  try {
    result.reconcile = await reconcile(deps);
    result.errors.push(...result.reconcile.errors);
  } catch (err) {
    result.errors.push(`reconcile: ${(err as Error).message}`);
  }
  if (result.errors.length > 0) {
    deps.logger.error("scheduler period had failures", { errors: result.errors });
  }
  return result;
}
