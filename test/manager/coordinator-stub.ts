/**
 * Just enough of GitLab's runner API for the manager's real-runner tests: job requests (a queued job is handed out
 * once, otherwise 204), job updates and trace patches, all recorded with timestamps. Not a GitLab simulator: no
 * artifacts, no cancellation, no long polling. (The driver's end-to-end tests have the full simulator.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface JobRequestBody {
  token?: string;
  system_id?: string;
  info?: { version?: string; executor?: string };
}

export interface StubJob {
  id: number;
  script: string[];
}

export class CoordinatorStub {
  url = "";
  readonly jobRequests: { at: number; body: JobRequestBody }[] = [];
  /** When each job was handed to a runner. */
  readonly assignedAt = new Map<number, number>();
  /** Every state a runner reported per job, in order. */
  readonly states = new Map<number, { state: string; at: number; exitCode?: number }[]>();
  readonly traces = new Map<number, string>();
  readonly unexpected: string[] = [];
  private readonly queue: StubJob[] = [];
  private server: Server | undefined;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => this.handle(req, res, body));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next job request gets this job. */
  offer(job: StubJob): void {
    this.queue.push(job);
  }

  finalState(jobId: number): string | undefined {
    return this.states.get(jobId)?.at(-1)?.state;
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? "/", this.url);
    const update = url.pathname.match(/^\/api\/v4\/jobs\/(\d+)$/);
    const trace = url.pathname.match(/^\/api\/v4\/jobs\/(\d+)\/trace$/);
    if (req.method === "POST" && url.pathname === "/api/v4/jobs/request") {
      this.jobRequests.push({ at: Date.now(), body: JSON.parse(body) as JobRequestBody });
      const job = this.queue.shift();
      if (!job) {
        res.writeHead(204, { "X-GitLab-Last-Update": "stub" }).end();
        return;
      }
      this.assignedAt.set(job.id, Date.now());
      res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify(jobPayload(job)));
    } else if (req.method === "PUT" && update) {
      const id = Number(update[1]);
      const parsed = JSON.parse(body) as { state: string; exit_code?: number };
      const list = this.states.get(id) ?? [];
      list.push({ state: parsed.state, at: Date.now(), exitCode: parsed.exit_code });
      this.states.set(id, list);
      res.writeHead(200, { "Job-Status": "running", "X-GitLab-Trace-Update-Interval": "1" }).end("200");
    } else if (req.method === "PATCH" && trace) {
      const id = Number(trace[1]);
      const text = (this.traces.get(id) ?? "") + body;
      this.traces.set(id, text);
      res
        .writeHead(202, {
          Range: `0-${Buffer.byteLength(text)}`,
          "Job-Status": "running",
          "X-GitLab-Trace-Update-Interval": "1",
        })
        .end();
    } else {
      this.unexpected.push(`${req.method} ${url.pathname}`);
      res.writeHead(404).end();
    }
  }
}

/** A minimal job (spec.Job): no git checkout (GIT_STRATEGY=none), one script step. */
function jobPayload(job: StubJob) {
  const sha = "0".repeat(40);
  return {
    id: job.id,
    token: `job-token-${job.id}`,
    allow_git_fetch: false,
    job_info: { id: job.id, name: "race", stage: "test", project_id: 1, project_name: "manager-test" },
    git_info: {
      repo_url: "http://127.0.0.1:9/none.git",
      ref: "main",
      sha,
      before_sha: sha,
      ref_type: "branch",
      refspecs: [],
      depth: 0,
    },
    runner_info: { timeout: 600 },
    variables: [
      { key: "GIT_STRATEGY", value: "none", public: true },
      { key: "CI_JOB_ID", value: String(job.id), public: true },
    ],
    steps: [{ name: "script", script: job.script, timeout: 600, when: "on_success", allow_failure: false }],
    image: { name: "" },
    services: [],
    artifacts: [],
    cache: [],
    credentials: [],
    dependencies: [],
    features: { trace_sections: true },
  };
}
