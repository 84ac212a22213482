/**
 * The reconciler: catches pending jobs whose scale-up never happened (webhook lost, scale-up dead-lettered,
 * manager crashed) so such a job still gets a manager within two schedule periods.
 * - Jobs seen pending (job-status markers) for at least one period and still not running: re-confirmed
 *   (REST check when a token is configured), then a manager is ensured for them.
 * - With `gitlab.reconcileProjectIds` and a token: pending jobs listed through the API get the same, at once
 *   (no webhook may ever arrive for them; ensuring is idempotent, so a job whose webhook is merely slow
 *   costs nothing extra).
 */
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { METRICS } from "../observability/metric-names.js";
import { clearPending, readJob, STATUS_RANK } from "../state/job-records.js";
import { DAY_MS, PENDING_PK, type PendingItem } from "../state/table.js";
import type { ControlPlaneDeps } from "./deps.js";
import { confirmJob, ensureManagerForJob, type PendingJobOutcome } from "./scale-up.js";

export interface ReconcileResult {
  checked: number;
  cleared: number;
  ensured: { projectId: number; jobId: number; outcome: PendingJobOutcome["action"] }[];
  listedFromApi: number;
  errors: string[];
}

async function listPendingMarkers(deps: ControlPlaneDeps): Promise<PendingItem[]> {
  const items: PendingItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await deps.db.send(
      new QueryCommand({
        TableName: deps.resources.stateTableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": PENDING_PK },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((out.Items ?? []) as PendingItem[]));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}

export async function reconcile(deps: ControlPlaneDeps): Promise<ReconcileResult> {
  const now = deps.now();
  const periodMs = deps.config.schedulePeriodMinutes * 60_000;
  const records = { db: deps.db, tableName: deps.resources.stateTableName };
  const result: ReconcileResult = { checked: 0, cleared: 0, ensured: [], listedFromApi: 0, errors: [] };
  // Each configuration is ensured at most once per pass, whatever the number of waiting jobs.
  const ensuredFor = new Map<string, PendingJobOutcome>();
  const ensureFor = async (projectId: number, jobId: number, tags: string[] | undefined) => {
    const key = tags === undefined ? "*" : JSON.stringify([...tags].sort());
    let outcome = ensuredFor.get(key);
    if (!outcome) {
      outcome = await ensureManagerForJob(deps, tags);
      ensuredFor.set(key, outcome);
      if (outcome.action === "started") {
        deps.metrics.count(METRICS.jobReconciled);
        deps.logger.warn("reconciler started a manager for a waiting job", {
          projectId,
          jobId,
          runner: outcome.runner,
        });
      }
    }
    result.ensured.push({ projectId, jobId, outcome: outcome.action });
  };

  for (const marker of await listPendingMarkers(deps)) {
    if (now - marker.firstSeenAt < periodMs) continue; // its own scale-up is still on the way
    result.checked++;
    try {
      const job = await readJob(records, marker.projectId, marker.jobId);
      const tooOld = now - marker.firstSeenAt > DAY_MS; // GitLab drops jobs pending for a day
      if ((job && job.statusRank > (STATUS_RANK.pending ?? 1)) || tooOld) {
        await clearPending(records, marker.projectId, marker.jobId);
        result.cleared++;
        continue;
      }
      const check = await confirmJob(deps, marker.projectId, marker.jobId);
      if (!check.pending) {
        await clearPending(records, marker.projectId, marker.jobId);
        result.cleared++;
        continue;
      }
      await ensureFor(marker.projectId, marker.jobId, check.tags);
    } catch (err) {
      result.errors.push(`job ${marker.projectId}/${marker.jobId}: ${(err as Error).message}`);
    }
  }

  const projectIds = deps.config.gitlab.reconcileProjectIds;
  if (projectIds.length > 0) {
    let api: Awaited<ReturnType<ControlPlaneDeps["gitlab"]>>;
    try {
      api = await deps.gitlab();
    } catch (err) {
      result.errors.push(`GitLab API token: ${(err as Error).message}`);
    }
    for (const projectId of api ? projectIds : []) {
      try {
        const jobs = await api!.listPendingJobs(projectId);
        for (const job of jobs) {
          if (job.status !== "pending" || job.runnerId !== null) continue;
          result.listedFromApi++;
          await ensureFor(projectId, job.id, job.tagList);
        }
      } catch (err) {
        result.errors.push(`project ${projectId}: ${(err as Error).message}`);
      }
    }
  }
  return result;
}
