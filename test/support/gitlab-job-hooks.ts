/**
 * GitLab's Job Hook deliveries for the simulator's jobs: on every status change of a job (created and pending when
 * it is queued, running when a runner takes it, then its final status) a POST to the webhook URL with the headers
 * GitLab sends (`X-Gitlab-Event: Job Hook`, `X-Gitlab-Token`, `X-Gitlab-Event-UUID`, `Idempotency-Key`) and a Job
 * Hook payload (test/webhook/fixtures/payloads.ts) carrying the job's id, name and times. Deliveries of one job go
 * out in order; GitLab does not retry a failed delivery, so neither does this (failures are recorded).
 */
import { randomUUID } from "node:crypto";
import { type JobStatus, jobHook } from "../webhook/fixtures/payloads.js";
import type { GitLabSim, ServerJobStatus, SimJob } from "./gitlab-sim.js";

export interface Delivery {
  jobId: number;
  status: JobStatus;
  /** HTTP status of the answer (0 when the request failed). */
  httpStatus: number;
  sentAt: number;
  answeredAt: number;
}

export interface JobHooks {
  readonly deliveries: readonly Delivery[];
  /** Resolves once every delivery started so far has been answered. */
  settled(): Promise<void>;
  stop(): void;
}

const HOOK_STATUS: Partial<Record<ServerJobStatus, JobStatus>> = {
  running: "running",
  success: "success",
  failed: "failed",
  canceled: "canceled",
};

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The Job Hook payload of a simulator job in `status`, with its real times. */
export function simJobHook(job: SimJob, status: JobStatus, createdAt: number): Record<string, unknown> {
  const startedAt = status === "created" || status === "pending" ? undefined : (job.assignedAt ?? createdAt);
  const finishedAt = job.finishedAt;
  const done = status === "success" || status === "failed" || status === "canceled";
  return jobHook(status, {
    build_id: job.id,
    build_name: job.definition.name,
    build_created_at_iso: iso(createdAt),
    build_created_at: iso(createdAt),
    build_started_at_iso: iso(startedAt),
    build_started_at: iso(startedAt),
    build_finished_at_iso: done ? iso(finishedAt) : null,
    build_finished_at: done ? iso(finishedAt) : null,
    build_queued_duration: status === "created" ? null : ((startedAt ?? Date.now()) - createdAt) / 1000,
    build_duration: done && startedAt && finishedAt ? (finishedAt - startedAt) / 1000 : null,
    build_failure_reason: status === "failed" ? (job.final?.failureReason ?? "script_failure") : null,
    project_id: 4242,
  });
}

/** Sends the simulator's Job Hooks to `url` with `secretToken` until stopped. */
export function sendJobHooks(sim: GitLabSim, url: string, secretToken: string): JobHooks {
  const deliveries: Delivery[] = [];
  const chains = new Map<number, Promise<void>>();
  const createdAt = new Map<number, number>();

  const deliver = async (job: SimJob, status: JobStatus): Promise<void> => {
    const sentAt = Date.now();
    let httpStatus = 0;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "GitLab/18.6.0",
          "x-gitlab-event": "Job Hook",
          "x-gitlab-token": secretToken,
          "x-gitlab-event-uuid": randomUUID(),
          "x-gitlab-webhook-uuid": "5f9d1a52-0b5e-4d6f-9a7e-4d2d3c1b0a99",
          "idempotency-key": randomUUID(),
        },
        body: JSON.stringify(simJobHook(job, status, createdAt.get(job.id) ?? sentAt)),
      });
      httpStatus = res.status;
      await res.arrayBuffer();
    } catch {
      httpStatus = 0;
    }
    deliveries.push({ jobId: job.id, status, httpStatus, sentAt, answeredAt: Date.now() });
  };

  const queue = (job: SimJob, status: JobStatus) => {
    const previous = chains.get(job.id) ?? Promise.resolve();
    chains.set(
      job.id,
      previous.then(() => deliver(job, status)),
    );
  };

  const unsubscribe = sim.onStatusChange((job) => {
    if (job.status === "pending" && !createdAt.has(job.id)) {
      createdAt.set(job.id, Date.now());
      queue(job, "created");
      queue(job, "pending");
      return;
    }
    const status = HOOK_STATUS[job.status];
    if (status) queue(job, status);
  });

  return {
    deliveries,
    async settled() {
      await Promise.all(chains.values());
    },
    stop: unsubscribe,
  };
}
