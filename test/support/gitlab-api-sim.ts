/**
 * A tiny GitLab REST API simulator (node:http on loopback) for the control plane's REST calls:
 * `GET /api/v4/projects/:id/jobs/:job_id` and `GET /api/v4/projects/:id/jobs?scope[]=pending` (paginated
 * with x-next-page). Tests seed jobs, queue faults (status codes, Retry-After, stalls) and read the request log.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SimJob {
  id: number;
  projectId: number;
  status: string;
  tagList?: string[];
  runnerId?: number | null;
}

export interface SimFault {
  /** HTTP status to answer with, or "stall" to never answer (the client's timeout must fire). */
  status: number | "stall";
  retryAfter?: string;
  /** Only requests whose path contains this. */
  pathIncludes?: string;
}

export interface SimRequest {
  method: string;
  path: string;
  token: string | undefined;
}

export class GitLabApiSim {
  readonly jobs = new Map<string, SimJob>();
  readonly requests: SimRequest[] = [];
  private readonly faults: SimFault[] = [];
  private server: Server | undefined;
  private readonly stalled = new Set<ServerResponse>();
  url = "";

  constructor(readonly token = "glpat-sim-token") {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  addJob(job: SimJob): void {
    this.jobs.set(`${job.projectId}/${job.id}`, job);
  }

  /** Faults are used in order, one per matching request. */
  queueFault(...faults: SimFault[]): void {
    this.faults.push(...faults);
  }

  private takeFault(path: string): SimFault | undefined {
    const index = this.faults.findIndex((f) => !f.pathIncludes || path.includes(f.pathIncludes));
    return index >= 0 ? this.faults.splice(index, 1)[0] : undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://sim");
    const token = req.headers["private-token"];
    this.requests.push({
      method: req.method ?? "GET",
      path: `${url.pathname}${url.search}`,
      token: token as string | undefined,
    });
    const fault = this.takeFault(url.pathname);
    if (fault?.status === "stall") {
      this.stalled.add(res);
      return;
    }
    if (fault) {
      res.writeHead(fault.status, {
        "content-type": "application/json",
        ...(fault.retryAfter ? { "retry-after": fault.retryAfter } : {}),
      });
      res.end(JSON.stringify({ message: `simulated ${fault.status}` }));
      return;
    }
    if (token !== this.token) {
      this.json(res, 401, { message: "401 Unauthorized" });
      return;
    }
    const one = url.pathname.match(/^\/api\/v4\/projects\/(\d+)\/jobs\/(\d+)$/);
    if (one) {
      const job = this.jobs.get(`${one[1]}/${one[2]}`);
      if (job) this.json(res, 200, this.render(job));
      else this.json(res, 404, { message: "404 Not found" });
      return;
    }
    const list = url.pathname.match(/^\/api\/v4\/projects\/(\d+)\/jobs$/);
    if (list) {
      const scopes = url.searchParams.getAll("scope[]");
      const perPage = Number(url.searchParams.get("per_page") ?? 20);
      const page = Number(url.searchParams.get("page") ?? 1);
      const all = [...this.jobs.values()].filter(
        (j) => String(j.projectId) === list[1] && (scopes.length === 0 || scopes.includes(j.status)),
      );
      const slice = all.slice((page - 1) * perPage, page * perPage);
      const hasNext = page * perPage < all.length;
      res.writeHead(200, {
        "content-type": "application/json",
        "x-next-page": hasNext ? String(page + 1) : "",
      });
      res.end(JSON.stringify(slice.map((j) => this.render(j))));
      return;
    }
    this.json(res, 404, { message: "404 Not found" });
  }

  private render(job: SimJob) {
    return {
      id: job.id,
      status: job.status,
      tag_list: job.tagList ?? [],
      runner: job.runnerId ? { id: job.runnerId } : null,
      created_at: "2026-11-27T10:00:00.000Z",
      project_id: job.projectId,
    };
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }
}
