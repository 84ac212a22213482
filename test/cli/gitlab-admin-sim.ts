/**
 * A GitLab REST simulator for the CLI: the current user, runners (`POST /user/runners`, update, token reset,
 * `POST /runners/verify`), project/group webhooks and their test deliveries. A test delivery is really sent
 * (a sample Job Hook with the hook's secret token) to the hook's URL, as GitLab does, and its answer decides
 * the API's answer. Tests read `runners`/`hooks` and may edit them to break things on purpose.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SimRunner {
  id: number;
  runner_type: string;
  owner: string;
  description: string;
  tag_list: string[];
  run_untagged: boolean;
  token: string;
}

export interface SimHook {
  id: number;
  owner: string;
  url: string;
  token: string;
  job_events: boolean;
  pipeline_events: boolean;
  enable_ssl_verification: boolean;
  alert_status: string;
  disabled_until: string | null;
}

export class GitLabAdminSim {
  readonly runners: SimRunner[] = [];
  readonly hooks: SimHook[] = [];
  readonly requests: { method: string; path: string }[] = [];
  /** Numeric ids of projects/groups by full path. */
  readonly namespaces = new Map<string, number>();
  /** GitLab answers a job_events test only for a project that has run a CI job. */
  projectHasJobs = true;
  /** The body GitLab sends as a test Job Hook. */
  sampleJobHook: Record<string, unknown> = {};
  /** Send test deliveries with this secret instead of the hook's (a hook out of step with SSM). */
  testTokenOverride: string | undefined;
  url = "";
  private server: Server | undefined;
  private nextId = 100;

  constructor(readonly token = `glpat-${randomBytes(10).toString("hex")}`) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => reply(res, 500, { message: err.message }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    const path = url.pathname.replace(/^\/api\/v4/, "");
    const method = req.method ?? "GET";
    this.requests.push({ method, path });
    const body = await readJson(req);

    if (method === "POST" && path === "/runners/verify") {
      const runner = this.runners.find((r) => r.token === body.token);
      return runner
        ? reply(res, 200, { id: runner.id, token: runner.token, token_expires_at: null })
        : reply(res, 403, { message: "403 Forbidden" });
    }
    if (req.headers["private-token"] !== this.token) return reply(res, 401, { message: "401 Unauthorized" });

    if (method === "GET" && path === "/user") return reply(res, 200, { id: 1, username: "operator" });
    if (method === "POST" && path === "/user/runners") {
      const owner = body.project_id
        ? `projects/${body.project_id}`
        : body.group_id
          ? `groups/${body.group_id}`
          : "instance";
      const runner: SimRunner = {
        id: this.nextId++,
        runner_type: String(body.runner_type),
        owner,
        description: String(body.description ?? ""),
        tag_list: String(body.tag_list ?? "")
          .split(",")
          .filter(Boolean),
        run_untagged: body.run_untagged !== false,
        token: newRunnerToken(),
      };
      this.runners.push(runner);
      return reply(res, 201, { id: runner.id, token: runner.token, token_expires_at: null });
    }
    let m = /^\/runners\/(\d+)$/.exec(path);
    if (m && method === "PUT") {
      const runner = this.runners.find((r) => r.id === Number(m![1]));
      if (!runner) return reply(res, 404, { message: "404 Not found" });
      if (body.description !== undefined) runner.description = String(body.description);
      if (body.tag_list !== undefined) runner.tag_list = String(body.tag_list).split(",").filter(Boolean);
      if (body.run_untagged !== undefined) runner.run_untagged = Boolean(body.run_untagged);
      return reply(res, 200, publicRunner(runner));
    }
    m = /^\/runners\/(\d+)\/reset_authentication_token$/.exec(path);
    if (m && method === "POST") {
      const runner = this.runners.find((r) => r.id === Number(m![1]));
      if (!runner) return reply(res, 404, { message: "404 Not found" });
      runner.token = newRunnerToken();
      return reply(res, 201, { token: runner.token, token_expires_at: null });
    }
    if (method === "GET" && path === "/runners/all") {
      return reply(res, 200, this.runners.filter((r) => r.runner_type === "instance_type").map(publicRunner));
    }
    m = /^\/(projects|groups)\/([^/]+)(\/.*)?$/.exec(path);
    if (!m) return reply(res, 404, { message: "404 Not found" });
    const owner = `${m[1]}/${this.idOf(decodeURIComponent(m[2]!))}`;
    const rest = m[3] ?? "";
    if (method === "GET" && rest === "") return reply(res, 200, { id: Number(owner.split("/")[1]) });
    if (method === "GET" && rest === "/runners") {
      const type = url.searchParams.get("type");
      return reply(
        res,
        200,
        this.runners.filter((r) => r.owner === owner && (!type || r.runner_type === type)).map(publicRunner),
      );
    }
    if (rest === "/hooks" && method === "GET")
      return reply(res, 200, this.hooks.filter((h) => h.owner === owner).map(publicHook));
    if (rest === "/hooks" && method === "POST") {
      const hook: SimHook = {
        id: this.nextId++,
        owner,
        url: String(body.url),
        token: String(body.token ?? ""),
        job_events: body.job_events === true,
        pipeline_events: body.pipeline_events === true,
        enable_ssl_verification: body.enable_ssl_verification !== false,
        alert_status: "executable",
        disabled_until: null,
      };
      this.hooks.push(hook);
      return reply(res, 201, publicHook(hook));
    }
    m = /^\/hooks\/(\d+)(\/test\/job_events)?$/.exec(rest);
    const hook = m ? this.hooks.find((h) => h.owner === owner && h.id === Number(m![1])) : undefined;
    if (!m || !hook) return reply(res, 404, { message: "404 Not found" });
    if (m[2] && method === "POST") return this.testDelivery(hook, res);
    if (method === "GET") return reply(res, 200, publicHook(hook));
    if (method === "PUT") {
      if (body.url !== undefined) hook.url = String(body.url);
      if (body.token !== undefined) hook.token = String(body.token);
      if (body.job_events !== undefined) hook.job_events = body.job_events === true;
      if (body.pipeline_events !== undefined) hook.pipeline_events = body.pipeline_events === true;
      return reply(res, 200, publicHook(hook));
    }
    return reply(res, 405, { message: "405 Method Not Allowed" });
  }

  private async testDelivery(hook: SimHook, res: ServerResponse): Promise<void> {
    if (!this.projectHasJobs) return reply(res, 422, { message: "Ensure the project has CI jobs." });
    const answer = await fetch(hook.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-gitlab-event": "Job Hook",
        "x-gitlab-token": this.testTokenOverride ?? hook.token,
        "x-gitlab-event-uuid": randomUUID(),
        "idempotency-key": randomUUID(),
        "x-gitlab-webhook-uuid": randomUUID(),
      },
      body: JSON.stringify(this.sampleJobHook),
    }).catch((err: Error) => ({ ok: false, status: 0, statusText: err.message }));
    if (answer.ok) {
      hook.alert_status = "executable";
      hook.disabled_until = null;
      return reply(res, 201, { message: `${answer.status}` });
    }
    return reply(res, 422, { message: `[Hook execution failed: ${answer.status}]` });
  }

  private idOf(idOrPath: string): number {
    if (/^\d+$/.test(idOrPath)) return Number(idOrPath);
    if (!this.namespaces.has(idOrPath)) this.namespaces.set(idOrPath, this.nextId++);
    return this.namespaces.get(idOrPath)!;
  }
}

function newRunnerToken(): string {
  return `glrt-${randomBytes(12).toString("base64url")}`;
}

/** GitLab never returns a runner's token or a hook's secret from GET/list. */
function publicRunner({ token: _token, owner: _owner, ...rest }: SimRunner) {
  return rest;
}
function publicHook({ token: _token, owner: _owner, ...rest }: SimHook) {
  return rest;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
