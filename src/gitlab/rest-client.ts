/**
 * A small GitLab REST client for the control plane: read one job, list a project's pending jobs.
 * Built on fetch so the Lambda bundle carries no HTTP library. Every call has a timeout, and 429/5xx
 * answers and network errors are retried with exponential backoff that honours Retry-After, because
 * GitLab rate-limits API callers and a scaler must ride out a short outage.
 */

/** What the control plane needs to know about a job. */
export interface GitLabJob {
  id: number;
  projectId: number;
  status: string;
  /** The job's own tags (the webhook does not carry them). */
  tagList: string[];
  /** Id of the runner that took the job, or null while nobody has. */
  runnerId: number | null;
  createdAt: string | null;
}

/** A GitLab API call failed. `retryable` says whether a later attempt could succeed. */
export class GitLabApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "GitLabApiError";
  }
}

export interface GitLabRestClientOptions {
  /** Base URL of the instance, e.g. https://gitlab.com (no /api/v4). */
  baseUrl: string;
  /** read_api token; sent as PRIVATE-TOKEN and never logged. */
  token: string;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Attempts per call, the first included. */
  maxAttempts?: number;
  /** First backoff delay; doubles per attempt, capped by maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Pages listPendingJobs reads at most (100 jobs a page). */
  maxPages?: number;
  fetch?: typeof globalThis.fetch;
  sleep?: (ms: number) => Promise<void>;
}

const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retry-After is either seconds or an HTTP date; anything else is ignored. */
export function parseRetryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

interface RawJob {
  id?: unknown;
  status?: unknown;
  tag_list?: unknown;
  runner?: { id?: unknown } | null;
  created_at?: unknown;
  project_id?: unknown;
}

function toJob(raw: unknown, projectId: number): GitLabJob {
  const job = (raw ?? {}) as RawJob;
  if (typeof job.id !== "number" || typeof job.status !== "string") {
    throw new GitLabApiError(
      "GitLab answered with a job without a numeric id and a status",
      undefined,
      false,
    );
  }
  const tags = Array.isArray(job.tag_list)
    ? job.tag_list.filter((t): t is string => typeof t === "string")
    : [];
  return {
    id: job.id,
    projectId: typeof job.project_id === "number" ? job.project_id : projectId,
    status: job.status,
    tagList: tags,
    runnerId: typeof job.runner?.id === "number" ? job.runner.id : null,
    createdAt: typeof job.created_at === "string" ? job.created_at : null,
  };
}

export class GitLabRestClient {
  private readonly apiBase: string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxPages: number;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: GitLabRestClientOptions) {
    this.apiBase = `${options.baseUrl.replace(/\/+$/, "")}/api/v4`;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.maxPages = options.maxPages ?? 10;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** `GET /projects/:id/jobs/:job_id`: the job's status and tags. */
  async getJob(projectId: number, jobId: number): Promise<GitLabJob> {
    const { body } = await this.request(`/projects/${projectId}/jobs/${jobId}`);
    return toJob(body, projectId);
  }

  /** `GET /projects/:id/jobs?scope[]=pending`, following pages up to maxPages. */
  async listPendingJobs(projectId: number): Promise<GitLabJob[]> {
    const jobs: GitLabJob[] = [];
    for (let page = 1; page <= this.maxPages; page++) {
      const { body, nextPage } = await this.request(
        `/projects/${projectId}/jobs?scope[]=pending&per_page=100&page=${page}`,
      );
      if (!Array.isArray(body))
        throw new GitLabApiError("GitLab answered the job list with a non-array", undefined, false);
      for (const raw of body) jobs.push(toJob(raw, projectId));
      if (!nextPage || body.length === 0) break;
    }
    return jobs;
  }

  private async request(path: string): Promise<{ body: unknown; nextPage: boolean }> {
    let lastError: GitLabApiError | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const response = await this.fetchImpl(`${this.apiBase}${path}`, {
          headers: { "PRIVATE-TOKEN": this.options.token, Accept: "application/json" },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (response.ok) {
          const nextPage = (response.headers.get("x-next-page") ?? "").trim() !== "";
          return { body: await response.json(), nextPage };
        }
        // Drain the body so the connection can be reused.
        await response.body?.cancel().catch(() => undefined);
        const retryable = RETRYABLE_STATUSES.has(response.status);
        lastError = new GitLabApiError(
          `GitLab API ${path.split("?")[0]} answered ${response.status}`,
          response.status,
          retryable,
        );
        if (!retryable) throw lastError;
        retryAfterMs = parseRetryAfterMs(response.headers.get("retry-after"));
      } catch (err) {
        if (err instanceof GitLabApiError && !err.retryable) throw err;
        if (!(err instanceof GitLabApiError)) {
          const reason =
            (err as Error).name === "TimeoutError"
              ? `timed out after ${this.timeoutMs} ms`
              : (err as Error).message;
          lastError = new GitLabApiError(
            `GitLab API ${path.split("?")[0]} failed: ${reason}`,
            undefined,
            true,
          );
        }
      }
      if (attempt < this.maxAttempts) {
        const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        await this.sleep(Math.min(this.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0)));
      }
    }
    throw lastError ?? new GitLabApiError("GitLab API call failed", undefined, true);
  }
}

/** GitLab's matching rule: a runner takes a job when every job tag is a runner tag, and untagged jobs only with run_untagged. */
export function runnerAcceptsTags(
  jobTags: readonly string[],
  runner: { tags: readonly string[]; runUntagged: boolean },
): boolean {
  if (jobTags.length === 0) return runner.runUntagged;
  return jobTags.every((tag) => runner.tags.includes(tag));
}
