/**
 * Job Hook (`object_kind: "build"`) and Pipeline Hook (`object_kind: "pipeline"`, its `builds[]`)
 * payloads, reduced to the fields the scaler uses. Schemas are loose: GitLab adds fields over time,
 * and only what we read is checked. Field lists: shared reference §2.2 and §2.5.
 */
import * as z from "zod";
import { preferIso } from "./timestamps.js";

/** One job as the rest of the control plane sees it, whichever hook reported it. */
export interface GitlabJob {
  jobId: number;
  jobName: string | null;
  status: string;
  pipelineId: number | null;
  projectId: number;
  projectPath: string | null;
  /** The runner that took the job (its own tags, not the job's), or null while nobody has. */
  runner: { id: number; tags: string[] } | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  queuedDurationSeconds: number | null;
}

export type ParsedWebhook =
  | { kind: "build"; jobs: [GitlabJob] }
  | { kind: "pipeline"; pipelineId: number; jobs: GitlabJob[]; unreadableBuilds: number }
  | { kind: "ignored"; objectKind: string };

export type ParseResult =
  | { ok: true; webhook: ParsedWebhook }
  | { ok: false; reason: "not-json" | "no-object-kind" | "invalid-payload"; detail?: string };

const id = z.number().int().positive();
const optionalText = z.string().nullish();

/**
 * A duration the control plane only passes on to a metric: a number or a numeric string; anything else, and any
 * negative value (clock skew on the GitLab side), is null, so an odd value never refuses an authentic delivery.
 */
const passThroughDuration = z
  .unknown()
  .transform((value): number | null => {
    const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    return typeof number === "number" && Number.isFinite(number) && number >= 0 ? number : null;
  })
  .optional();

/** Runner tags are passed through: scalars become strings, anything else is dropped. */
const passThroughTags = z
  .unknown()
  .transform((value): string[] => {
    if (!Array.isArray(value)) return [];
    return value.flatMap((tag) =>
      typeof tag === "string"
        ? [tag]
        : typeof tag === "number" || typeof tag === "boolean"
          ? [String(tag)]
          : [],
    );
  })
  .optional();

const runnerSchema = z
  .looseObject({
    id,
    tags: passThroughTags,
  })
  .nullish()
  // A runner we cannot read is reported as none rather than refusing the delivery.
  .catch(null);

const jobHookSchema = z.looseObject({
  object_kind: z.literal("build"),
  build_id: id,
  build_name: optionalText,
  build_status: z.string().min(1),
  build_created_at: optionalText,
  build_started_at: optionalText,
  build_finished_at: optionalText,
  build_created_at_iso: optionalText,
  build_started_at_iso: optionalText,
  build_finished_at_iso: optionalText,
  build_queued_duration: passThroughDuration,
  pipeline_id: id.nullish(),
  project_id: id,
  project: z.looseObject({ path_with_namespace: optionalText }).nullish(),
  runner: runnerSchema,
});

const pipelineBuildSchema = z.looseObject({
  id,
  name: optionalText,
  status: z.string().min(1),
  created_at: optionalText,
  started_at: optionalText,
  finished_at: optionalText,
  created_at_iso: optionalText,
  started_at_iso: optionalText,
  finished_at_iso: optionalText,
  queued_duration: passThroughDuration,
  runner: runnerSchema,
});

const pipelineHookSchema = z.looseObject({
  object_kind: z.literal("pipeline"),
  object_attributes: z.looseObject({ id }),
  project: z.looseObject({ id, path_with_namespace: optionalText }),
  // Elements are checked one by one below, so one odd build does not lose the others.
  builds: z.array(z.unknown()).nullish(),
});

function runnerOf(runner: z.infer<typeof runnerSchema>): GitlabJob["runner"] {
  return runner ? { id: runner.id, tags: runner.tags ?? [] } : null;
}

function describeIssues(error: z.ZodError): string {
  // Paths and codes only: payload values (user names, emails, commit messages) stay out of logs.
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.code}`)
    .join("; ");
}

function parseJobHook(payload: unknown): ParseResult {
  const parsed = jobHookSchema.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: "invalid-payload", detail: describeIssues(parsed.error) };
  const hook = parsed.data;
  const job: GitlabJob = {
    jobId: hook.build_id,
    jobName: hook.build_name ?? null,
    status: hook.build_status,
    pipelineId: hook.pipeline_id ?? null,
    projectId: hook.project_id,
    // `project_name` is the display name ("Group / Project"), not a path: without `project`, no path is known.
    projectPath: hook.project?.path_with_namespace ?? null,
    runner: runnerOf(hook.runner),
    createdAt: preferIso(hook.build_created_at_iso, hook.build_created_at),
    startedAt: preferIso(hook.build_started_at_iso, hook.build_started_at),
    finishedAt: preferIso(hook.build_finished_at_iso, hook.build_finished_at),
    queuedDurationSeconds: hook.build_queued_duration ?? null,
  };
  return { ok: true, webhook: { kind: "build", jobs: [job] } };
}

function parsePipelineHook(payload: unknown): ParseResult {
  const parsed = pipelineHookSchema.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: "invalid-payload", detail: describeIssues(parsed.error) };
  const hook = parsed.data;
  const jobs: GitlabJob[] = [];
  let unreadableBuilds = 0;
  for (const element of hook.builds ?? []) {
    const build = pipelineBuildSchema.safeParse(element);
    if (!build.success) {
      unreadableBuilds += 1;
      continue;
    }
    const b = build.data;
    jobs.push({
      jobId: b.id,
      jobName: b.name ?? null,
      status: b.status,
      pipelineId: hook.object_attributes.id,
      projectId: hook.project.id,
      projectPath: hook.project.path_with_namespace ?? null,
      runner: runnerOf(b.runner),
      createdAt: preferIso(b.created_at_iso, b.created_at),
      startedAt: preferIso(b.started_at_iso, b.started_at),
      finishedAt: preferIso(b.finished_at_iso, b.finished_at),
      queuedDurationSeconds: b.queued_duration ?? null,
    });
  }
  return {
    ok: true,
    webhook: { kind: "pipeline", pipelineId: hook.object_attributes.id, jobs, unreadableBuilds },
  };
}

/** Parses a raw webhook body. Never throws: every failure is a reason the caller maps to 400. */
export function parseWebhookBody(body: string): ParseResult {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    return { ok: false, reason: "not-json" };
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return { ok: false, reason: "no-object-kind" };
  }
  const objectKind = (payload as { object_kind?: unknown }).object_kind;
  if (typeof objectKind !== "string" || objectKind.length === 0)
    return { ok: false, reason: "no-object-kind" };
  if (objectKind === "build") return parseJobHook(payload);
  if (objectKind === "pipeline") return parsePipelineHook(payload);
  return { ok: true, webhook: { kind: "ignored", objectKind: objectKind.slice(0, 64) } };
}
