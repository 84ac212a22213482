/**
 * A GitLab coordinator simulator: the runner ↔ GitLab API that a real `gitlab-runner` talks to
 * (shared/reference/gitlab-webhooks-and-runner-api.md §4, checked against gitlab-runner 19.4
 * `network/gitlab.go`, `network/patch_response.go`, `network/remote_job_state_response.go`, `common/spec/spec.go`).
 *
 * - `POST /api/v4/runners/verify` → 200.
 * - `POST /api/v4/jobs/request` → 201 with a job payload, or 204 with `X-GitLab-Last-Update` (the runner queue value).
 *   How an idle request is answered follows `longPolling` (GitLabSimOptions): GitLab's two modes, or an idealised
 *   coordinator that hands a job queued later to the waiting request.
 * - `PUT /api/v4/jobs/:id` → 200 with `Job-Status`; the job stays `pending` until the runner acknowledges it with
 *   `state=running` (two-phase commit); `success`/`failed` finish it.
 * - `PATCH /api/v4/jobs/:id/trace` with `Content-Range: start-end` → 202 with `Range: 0-<size>`, or 416 with the stored
 *   size when `start` does not match it.
 * - `POST /api/v4/jobs/:id/artifacts` (multipart field `file`) → 201; `GET /api/v4/jobs/:id/artifacts` → the bytes.
 * - Cancel: `cancel(id)` answers `Job-Status: canceling` (graceful: after_script runs), `abort(id)` answers `canceled`.
 * Everything is recorded for assertions.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ServerJobStatus = "pending" | "running" | "canceling" | "success" | "failed" | "canceled";

export interface ServiceDefinition {
  name: string;
  alias?: string;
  command?: string[];
  entrypoint?: string[];
  variables?: Record<string, string>;
  /** `services: ports:` (the runner waits for them before the script). */
  ports?: number[];
}

export interface JobDefinition {
  name: string;
  script: string[];
  afterScript?: string[];
  /** More build steps after `script`; the runner runs each as its own `step_<name>` stage. */
  extraSteps?: Array<{ name: string; script: string[] }>;
  image?: string;
  /** `image: {entrypoint: […]}` (`[""]` clears the image's own entrypoint). */
  imageEntrypoint?: string[];
  services?: ServiceDefinition[];
  variables?: Record<string, string>;
  /** Which runner (by token) may take the job; undefined = any. */
  runnerToken?: string;
  git?: { repoUrl: string; sha: string; ref: string; depth?: number };
  cache?: { key: string; paths: string[]; policy?: "pull-push" | "pull" | "push"; when?: string };
  artifacts?: { paths: string[]; name?: string; when?: "on_success" | "on_failure" | "always" };
  /** Earlier jobs whose archive artifacts this job downloads. */
  dependencies?: SimJob[];
  timeoutSeconds?: number;
  /** `allow_failure: exit_codes:` (GitLab applies it to the exit code the runner reports). */
  allowFailureExitCodes?: number[];
}

export interface StateUpdate {
  state: string;
  failureReason?: string;
  exitCode?: number;
  checksum?: string;
  bytesize?: number;
  at: number;
}

export interface StoredArtifact {
  type: string;
  format: string;
  filename: string;
  data: Buffer;
}

export interface SimJob {
  id: number;
  token: string;
  definition: JobDefinition;
  status: ServerJobStatus;
  /** Every PUT /jobs/:id body, in order. */
  updates: StateUpdate[];
  /** The final update (success or failed), once the runner sent it. */
  final?: StateUpdate;
  trace: Buffer;
  artifacts: StoredArtifact[];
  assignedAt?: number;
  finishedAt?: number;
  /** Pending but not handed out until `release(job)` (GitLab's queue holding a job back). */
  held?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  /** When the request arrived. */
  receivedAt: number;
  /** When it was answered (a held long poll: up to the polling duration later). */
  at: number;
}

/**
 * How GitLab answers a `jobs/request` when no job is there (docs: "Long polling"; Workhorse `internal/builds/register.go`):
 * - `workhorse`: long polling on (GitLab.com). A request whose `last_update` equals the runner's current queue value
 *   is held until that value changes or `longPollMs` passes, then answered 204 *without* `X-GitLab-Last-Update`: even
 *   when a job arrived meanwhile, the runner gets it only on its next request. A request without `last_update`, or
 *   with a stale one, goes straight to "Rails" (a job, or 204 with the new queue value).
 * - `off`: Workhorse's polling duration is 0 (the self-managed default): every request is answered at once.
 * - `idealised` (default): the request is held up to `longPollMs` and a job queued meanwhile is handed to it. No GitLab
 *   does this; it keeps tests that do not measure pickup fast.
 */
export type LongPollingMode = "workhorse" | "off" | "idealised";

export interface GitLabSimOptions {
  /** @default "idealised" */
  longPolling?: LongPollingMode;
  /** How long an idle `jobs/request` is held open (ms), in the `workhorse` and `idealised` modes. */
  longPollMs?: number;
  /** `X-GitLab-Trace-Update-Interval` sent back (seconds): small makes cancellation noticed quickly. */
  traceUpdateIntervalSeconds?: number;
}

const FAILURE_REASONS = [
  "unknown_failure",
  "script_failure",
  "api_failure",
  "stuck_or_timeout_failure",
  "runner_system_failure",
  "missing_dependency_failure",
  "runner_unsupported",
  "stale_schedule",
  "job_execution_timeout",
  "archived_failure",
  "unmet_prerequisites",
  "scheduler_failure",
  "data_integrity_failure",
  "job_canceled",
];

/** Workhorse marks every `jobs/request` answer that passed its long polling. */
const WORKHORSE_HEADERS = { "Gitlab-Ci-Builds-Polling": "yes" };

const isFinal = (status: ServerJobStatus) =>
  status === "success" || status === "failed" || status === "canceled";

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class GitLabSim {
  readonly jobs = new Map<number, SimJob>();
  readonly requests: RecordedRequest[] = [];
  /** `info.features` of the last jobs/request, to check what the runner announces. */
  lastRunnerFeatures: Record<string, boolean> | undefined;
  private readonly queue: SimJob[] = [];
  private readonly runnerTokens = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private readonly arrivals = new WeakMap<IncomingMessage, number>();
  private readonly finishWaiters = new Map<number, Array<() => void>>();
  private readonly statusListeners = new Set<(job: SimJob) => void>();
  private nextJobId = 1000 + Math.floor(Math.random() * 1000) * 1000;
  private queueVersion = randomBytes(8).toString("hex");
  private server: Server | undefined;
  private baseUrl = "";
  private readonly longPollMs: number;
  readonly longPolling: LongPollingMode;
  private readonly traceInterval: number;

  constructor(options: GitLabSimOptions = {}) {
    this.longPolling = options.longPolling ?? "idealised";
    this.longPollMs = options.longPolling === "off" ? 0 : (options.longPollMs ?? 2000);
    this.traceInterval = options.traceUpdateIntervalSeconds ?? 1;
  }

  /** Base URL for config.toml `url`. */
  get url(): string {
    if (!this.baseUrl) throw new Error("GitLabSim is not started");
    return this.baseUrl;
  }

  /** Creates a runner authentication token the simulator accepts. */
  addRunner(): string {
    const token = `glrt-${randomBytes(10).toString("hex")}`;
    this.runnerTokens.add(token);
    return token;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.arrivals.set(req, Date.now());
      this.handle(req, res).catch((error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        this.reply(req, res, status, { message: (error as Error).message });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const wake of this.waiters) wake();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Calls `listener` after every change of a job's status (when GitLab sends a Job Hook); returns an unsubscribe. */
  onStatusChange(listener: (job: SimJob) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private setStatus(job: SimJob, status: ServerJobStatus): void {
    if (job.status === status) return;
    job.status = status;
    for (const listener of this.statusListeners) listener(job);
  }

  /** Queues a job; the next matching `jobs/request` gets it (once released, when queued `held`). */
  enqueue(definition: JobDefinition, options: { held?: boolean } = {}): SimJob {
    const job: SimJob = {
      held: options.held,
      id: this.nextJobId++,
      token: `glcbt-${randomBytes(12).toString("hex")}`,
      definition,
      status: "pending",
      updates: [],
      trace: Buffer.alloc(0),
      artifacts: [],
    };
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.queueVersion = randomBytes(8).toString("hex");
    for (const wake of [...this.waiters]) wake();
    for (const listener of this.statusListeners) listener(job);
    return job;
  }

  /** Lets a held job be handed out (GitLab ticks the runner queue, as for a new job). */
  release(job: SimJob): void {
    job.held = false;
    this.queueVersion = randomBytes(8).toString("hex");
    for (const wake of [...this.waiters]) wake();
  }

  /** Graceful cancel, as the GitLab UI does: `Job-Status: canceling`; the job ends `canceled`. */
  cancel(job: SimJob): void {
    if (!isFinal(job.status)) this.setStatus(job, "canceling");
  }

  /** Hard abort: `Job-Status: canceled` makes the runner abort at once. */
  abort(job: SimJob): void {
    if (!isFinal(job.status)) this.setStatus(job, "canceled");
  }

  traceText(job: SimJob): string {
    return job.trace.toString("utf8");
  }

  /** Whether GitLab would show the job as "failed (allowed to fail)". */
  allowedToFail(job: SimJob): boolean {
    const codes = job.definition.allowFailureExitCodes ?? [];
    return (
      job.final?.state === "failed" && job.final.exitCode !== undefined && codes.includes(job.final.exitCode)
    );
  }

  /** Resolves once the runner sent the job's final state (or rejects after timeoutMs, with the trace so far). */
  waitForFinal(job: SimJob, timeoutMs: number): Promise<SimJob> {
    if (job.final) return Promise.resolve(job);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `job ${job.id} (${job.definition.name}) not finished after ${timeoutMs} ms, status ${job.status}; trace:\n${this.traceText(job)}`,
          ),
        );
      }, timeoutMs);
      const list = this.finishWaiters.get(job.id) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve(job);
      });
      this.finishWaiters.set(job.id, list);
    });
  }

  /** Resolves when the job's trace contains `text`. */
  async waitForTrace(job: SimJob, text: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.traceText(job).includes(text)) {
      if (job.final)
        throw new Error(
          `job ${job.id} finished without printing ${JSON.stringify(text)}:\n${this.traceText(job)}`,
        );
      if (Date.now() > deadline)
        throw new Error(`job ${job.id} did not print ${JSON.stringify(text)} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // --- HTTP -------------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    const method = req.method ?? "GET";
    const jobId = (pattern: RegExp) => Number(url.pathname.match(pattern)?.[1] ?? Number.NaN);
    const routes: Array<[string, RegExp, (id: number) => Promise<void>]> = [
      ["POST", /^\/api\/v4\/runners\/verify$/, () => this.verify(req, res)],
      ["POST", /^\/api\/v4\/jobs\/request$/, () => this.requestJob(req, res)],
      ["PUT", /^\/api\/v4\/jobs\/(\d+)$/, (id) => this.updateJob(req, res, id)],
      ["PATCH", /^\/api\/v4\/jobs\/(\d+)\/trace$/, (id) => this.patchTrace(req, res, id)],
      [
        "POST",
        /^\/api\/v4\/jobs\/(\d+)\/artifacts$/,
        (id) => this.uploadArtifacts(req, res, id, url.searchParams),
      ],
      ["GET", /^\/api\/v4\/jobs\/(\d+)\/artifacts$/, (id) => this.downloadArtifacts(req, res, id)],
    ];
    const route = routes.find(([m, pattern]) => m === method && pattern.test(url.pathname));
    if (route) return route[2](jobId(route[1]));
    await readBody(req);
    this.reply(req, res, 404, { message: "404 Not Found" });
  }

  private reply(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ): void {
    const at = Date.now();
    this.requests.push({
      method: req.method ?? "",
      path: (req.url ?? "").split("?")[0] ?? "",
      status,
      receivedAt: this.arrivals.get(req) ?? at,
      at,
    });
    if (res.headersSent) return;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      ...(payload ? { "Content-Type": "application/json", "Content-Length": String(payload.length) } : {}),
      ...headers,
    });
    res.end(payload);
  }

  private async verify(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString("utf8") || "{}") as { token?: string };
    if (!body.token || !this.runnerTokens.has(body.token))
      return this.reply(req, res, 403, { message: "403 Forbidden" });
    this.reply(req, res, 200, { id: 1, token: body.token, token_expires_at: null });
  }

  private async requestJob(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString("utf8") || "{}") as {
      token?: string;
      last_update?: string;
      info?: { features?: Record<string, boolean> };
    };
    const token = body.token ?? headerOf(req, "runner-token");
    if (this.longPolling === "workhorse" && token && body.last_update === this.queueVersion) {
      // Workhorse watches the queue value and answers itself: 204, no new value, no job (the runner asks again).
      await this.waitForQueueChange(
        Date.now() + this.longPollMs,
        req,
        () => this.queueVersion !== body.last_update,
      );
      return this.reply(req, res, 204, undefined, WORKHORSE_HEADERS);
    }
    if (!token || !this.runnerTokens.has(token))
      return this.reply(req, res, 403, { message: "403 Forbidden" });
    this.lastRunnerFeatures = body.info?.features;
    let job = this.takeJob(token);
    if (this.longPolling === "idealised") {
      const deadline = Date.now() + this.longPollMs;
      while (!job && Date.now() < deadline && !req.socket.destroyed && this.server?.listening) {
        await this.waitForQueueChange(deadline, req, () => true);
        // A runner that went away meanwhile (a manager stopped, a retired generation) must not take the job with it.
        if (req.socket.destroyed) return;
        job = this.takeJob(token);
      }
    }
    const polling = this.longPolling === "workhorse" ? WORKHORSE_HEADERS : {};
    if (!job)
      return this.reply(req, res, 204, undefined, { ...polling, "X-GitLab-Last-Update": this.queueVersion });
    job.assignedAt = Date.now();
    this.reply(req, res, 201, jobPayload(job, this.url), polling);
  }

  /** Resolves at the next queue change for which `changed()` holds, at `deadline`, or when the request or server goes. */
  private async waitForQueueChange(
    deadline: number,
    req: IncomingMessage,
    changed: () => boolean,
  ): Promise<void> {
    while (Date.now() < deadline && !req.socket.destroyed && this.server?.listening) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          req.socket.off("close", wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
        this.waiters.add(wake);
        req.socket.once("close", wake);
      });
      if (changed()) return;
    }
  }

  private takeJob(runnerToken: string): SimJob | undefined {
    const index = this.queue.findIndex(
      (job) => !job.held && (!job.definition.runnerToken || job.definition.runnerToken === runnerToken),
    );
    if (index < 0) return undefined;
    return this.queue.splice(index, 1)[0];
  }

  private jobFor(req: IncomingMessage, id: number, bodyToken?: string): SimJob {
    const job = this.jobs.get(id);
    if (!job) throw new HttpError(404, "404 Job Not Found");
    const token = bodyToken ?? headerOf(req, "job-token");
    if (token !== job.token) throw new HttpError(403, "403 Forbidden - invalid job token");
    return job;
  }

  private stateHeaders(job: SimJob): Record<string, string> {
    return { "Job-Status": job.status, "X-GitLab-Trace-Update-Interval": String(this.traceInterval) };
  }

  private async updateJob(req: IncomingMessage, res: ServerResponse, id: number): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString("utf8") || "{}") as {
      token?: string;
      state?: string;
      failure_reason?: string;
      exit_code?: number;
      output?: { checksum?: string; bytesize?: number };
    };
    const job = this.jobFor(req, id, body.token);
    const update: StateUpdate = {
      state: body.state ?? "",
      failureReason: body.failure_reason,
      exitCode: body.exit_code,
      checksum: body.output?.checksum,
      bytesize: body.output?.bytesize,
      at: Date.now(),
    };
    job.updates.push(update);
    if (job.status === "canceled" || job.status === "success" || job.status === "failed") {
      // Like Rails: a finished job answers 403 with its status, which makes the runner abort.
      return this.reply(
        req,
        res,
        403,
        { message: "403 Forbidden - Job is not processing on runner" },
        this.stateHeaders(job),
      );
    }
    switch (update.state) {
      case "pending":
        break;
      case "running":
        if (job.status === "pending") this.setStatus(job, "running");
        break;
      case "success":
      case "failed":
        job.final = update;
        job.finishedAt = Date.now();
        this.setStatus(job, job.status === "canceling" ? "canceled" : (update.state as ServerJobStatus));
        for (const notify of this.finishWaiters.get(job.id) ?? []) notify();
        this.finishWaiters.delete(job.id);
        return this.reply(req, res, 200, undefined, { "Job-Status": job.status });
      default:
        return this.reply(req, res, 400, { message: `400 Bad request - unknown state ${update.state}` });
    }
    this.reply(req, res, 200, undefined, this.stateHeaders(job));
  }

  private async patchTrace(req: IncomingMessage, res: ServerResponse, id: number): Promise<void> {
    const data = await readBody(req);
    const job = this.jobFor(req, id);
    const range = headerOf(req, "content-range")?.match(/^(\d+)-(\d+)$/);
    if (!range) return this.reply(req, res, 400, { message: "400 Content-Range missing" });
    if (isFinal(job.status))
      return this.reply(req, res, 403, { message: "403 Forbidden" }, this.stateHeaders(job));
    const start = Number(range[1]);
    if (start !== job.trace.length) {
      return this.reply(req, res, 416, undefined, {
        Range: `0-${job.trace.length}`,
        ...this.stateHeaders(job),
      });
    }
    job.trace = Buffer.concat([job.trace, data]);
    this.reply(req, res, 202, undefined, { Range: `0-${job.trace.length}`, ...this.stateHeaders(job) });
  }

  private async uploadArtifacts(
    req: IncomingMessage,
    res: ServerResponse,
    id: number,
    query: URLSearchParams,
  ): Promise<void> {
    const body = await readBody(req);
    const job = this.jobFor(req, id);
    const file = parseMultipartFile(headerOf(req, "content-type") ?? "", body);
    if (!file) return this.reply(req, res, 400, { message: "400 missing file" });
    job.artifacts.push({
      type: query.get("artifact_type") ?? "archive",
      format: query.get("artifact_format") ?? "zip",
      filename: file.filename,
      data: file.data,
    });
    this.reply(req, res, 201, {});
  }

  private async downloadArtifacts(req: IncomingMessage, res: ServerResponse, id: number): Promise<void> {
    await readBody(req);
    const job = this.jobs.get(id);
    const token = headerOf(req, "job-token");
    // Dependency downloads carry the downloading job's token: any known job token is accepted.
    if (!token || ![...this.jobs.values()].some((j) => j.token === token)) {
      return this.reply(req, res, 403, { message: "403 Forbidden" });
    }
    const archive = job?.artifacts.find((a) => a.type === "archive");
    if (!archive) return this.reply(req, res, 404, { message: "404 Not Found" });
    const at = Date.now();
    const receivedAt = this.arrivals.get(req) ?? at;
    this.requests.push({ method: "GET", path: `/api/v4/jobs/${id}/artifacts`, status: 200, receivedAt, at });
    res.writeHead(200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(archive.data.length),
    });
    res.end(archive.data);
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The single file part of a multipart/form-data body (the runner sends one part named `file`). */
export function parseMultipartFile(
  contentType: string,
  body: Buffer,
): { filename: string; data: Buffer } | undefined {
  const boundary = contentType.match(/boundary=(?:"([^"]+)"|([^;]+))/);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (!marker) return undefined;
  const delimiter = Buffer.from(`--${marker}`);
  const start = body.indexOf(delimiter);
  if (start < 0) return undefined;
  const headerEnd = body.indexOf("\r\n\r\n", start);
  if (headerEnd < 0) return undefined;
  const headers = body.subarray(start + delimiter.length, headerEnd).toString("utf8");
  if (!/name="file"/.test(headers)) return undefined;
  const end = body.indexOf(Buffer.from(`\r\n--${marker}`), headerEnd + 4);
  if (end < 0) return undefined;
  return {
    filename: headers.match(/filename="([^"]*)"/)?.[1] ?? "",
    data: body.subarray(headerEnd + 4, end),
  };
}

/** The 201 body of `jobs/request`: GitLab's job payload (`common/spec/spec.go` `Job`). */
export function jobPayload(job: SimJob, serverUrl: string): Record<string, unknown> {
  const d = job.definition;
  const projectId = 4242;
  const projectPath = "sim/project";
  const git = d.git ?? { repoUrl: `${serverUrl}/${projectPath}.git`, sha: "0".repeat(40), ref: "main" };
  const repoUrl = new URL(git.repoUrl);
  repoUrl.username = "gitlab-ci-token";
  repoUrl.password = job.token;
  const predefined: Record<string, string> = {
    CI: "true",
    GITLAB_CI: "true",
    CI_SERVER_URL: serverUrl,
    CI_SERVER_HOST: new URL(serverUrl).hostname,
    CI_JOB_ID: String(job.id),
    CI_JOB_NAME: d.name,
    CI_JOB_STAGE: "test",
    CI_PIPELINE_ID: "77",
    CI_PROJECT_ID: String(projectId),
    CI_PROJECT_NAME: "project",
    CI_PROJECT_PATH: projectPath,
    CI_PROJECT_NAMESPACE: "sim",
    CI_PROJECT_URL: `${serverUrl}/${projectPath}`,
    CI_REPOSITORY_URL: repoUrl.toString(),
    CI_COMMIT_SHA: git.sha,
    CI_COMMIT_REF_NAME: git.ref,
    CI_COMMIT_REF_SLUG: git.ref.toLowerCase().replace(/[^a-z0-9]/g, "-"),
    CI_COMMIT_BRANCH: git.ref,
    CI_DEFAULT_BRANCH: "main",
    CI_NODE_TOTAL: "1",
  };
  const variables = [
    ...Object.entries(predefined).map(([key, value]) => ({ key, value, public: true, masked: false })),
    { key: "CI_JOB_TOKEN", value: job.token, public: false, masked: true },
    ...Object.entries(d.variables ?? {}).map(([key, value]) => ({
      key,
      value,
      public: false,
      masked: false,
    })),
  ];
  const timeout = d.timeoutSeconds ?? 3600;
  const steps: Array<Record<string, unknown>> = [
    { name: "script", script: d.script, timeout, when: "on_success", allow_failure: false },
  ];
  for (const extra of d.extraSteps ?? []) {
    steps.push({ name: extra.name, script: extra.script, timeout, when: "on_success", allow_failure: false });
  }
  if (d.afterScript)
    steps.push({ name: "after_script", script: d.afterScript, timeout, when: "always", allow_failure: true });
  return {
    id: job.id,
    token: job.token,
    allow_git_fetch: true,
    job_info: {
      id: job.id,
      name: d.name,
      stage: "test",
      pipeline_id: 77,
      project_id: projectId,
      project_name: "project",
      project_full_path: projectPath,
      namespace_id: 1,
      root_namespace_id: 1,
      organization_id: 1,
      user_id: 1,
      time_in_queue_seconds: 0,
      project_jobs_running_on_instance_runners_count: "0",
      queue_size: 0,
      queue_depth: 0,
    },
    git_info: {
      repo_url: repoUrl.toString(),
      repo_object_format: "sha1",
      ref: git.ref,
      sha: git.sha,
      before_sha: "0".repeat(40),
      ref_type: "branch",
      refspecs: [`+refs/heads/${git.ref}:refs/remotes/origin/${git.ref}`],
      depth: git.depth ?? 20,
      protected: false,
    },
    runner_info: { timeout },
    variables,
    steps,
    image: d.image ? { name: d.image, entrypoint: d.imageEntrypoint ?? null, ports: [] } : { name: "" },
    services: (d.services ?? []).map((s) => ({
      name: s.name,
      alias: s.alias ?? "",
      command: s.command,
      entrypoint: s.entrypoint,
      ports: (s.ports ?? []).map((number) => ({ number, protocol: "tcp", name: "" })),
      variables: Object.entries(s.variables ?? {}).map(([key, value]) => ({
        key,
        value,
        public: true,
        masked: false,
      })),
    })),
    artifacts: d.artifacts
      ? [
          {
            name: d.artifacts.name ?? "artifacts",
            untracked: false,
            paths: d.artifacts.paths,
            when: d.artifacts.when ?? "on_success",
            artifact_type: "archive",
            artifact_format: "zip",
            expire_in: "1 day",
          },
        ]
      : [],
    cache: d.cache
      ? [
          {
            key: d.cache.key,
            untracked: false,
            paths: d.cache.paths,
            policy: d.cache.policy ?? "pull-push",
            when: d.cache.when ?? "on_success",
            fallback_keys: [],
          },
        ]
      : [],
    credentials: [],
    dependencies: (d.dependencies ?? []).map((dep) => {
      const archive = dep.artifacts.find((a) => a.type === "archive");
      return {
        id: dep.id,
        name: dep.definition.name,
        token: job.token,
        ...(archive ? { artifacts_file: { filename: archive.filename, size: archive.data.length } } : {}),
      };
    }),
    features: { trace_sections: true, failure_reasons: FAILURE_REASONS },
  };
}
