/**
 * The GitLab REST calls the CLI makes (runners, webhooks, the current user), over fetch with a timeout.
 * The token goes in the PRIVATE-TOKEN header only; it is never part of an error message or a log line.
 */
import { CliError, EXIT } from "./exit-codes.js";

export type Fetch = typeof fetch;

/** Where runners and hooks live: a project (id or full path) or a group (id or full path). */
export type HookTarget = { kind: "project"; id: string } | { kind: "group"; id: string };
export type RunnerType = "project_type" | "group_type" | "instance_type";

export interface GitLabRunner {
  id: number;
  description: string | null;
  runner_type?: RunnerType;
  tag_list?: string[];
  run_untagged?: boolean;
  paused?: boolean;
}

export interface GitLabHook {
  id: number;
  url: string;
  job_events?: boolean;
  pipeline_events?: boolean;
  enable_ssl_verification?: boolean;
  /** GitLab 17+: "executable" | "temporarily_disabled" | "disabled". */
  alert_status?: string;
  disabled_until?: string | null;
}

export interface RunnerSettings {
  description: string;
  tagList: string[];
  runUntagged: boolean;
}

/** A non-2xx answer from GitLab. `status` lets callers tell "invalid token" from "not found". */
export class GitLabHttpError extends CliError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    detail: string,
  ) {
    super(`GitLab ${method} ${path} answered ${status}${detail ? `: ${detail}` : ""}`, EXIT.checkFailed);
    this.name = "GitLabHttpError";
  }
}

const enc = encodeURIComponent;
const base = (t: HookTarget) => (t.kind === "project" ? `/projects/${enc(t.id)}` : `/groups/${enc(t.id)}`);

export class GitLabApi {
  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly fetchImpl: Fetch = fetch,
    private readonly timeoutMs = 15_000,
  ) {}

  /** One call to `/api/v4<path>`; answers the parsed JSON body (or null for an empty one). */
  async request<T>(method: string, path: string, body?: Record<string, unknown>, auth = true): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (auth && this.token) headers["private-token"] = this.token;
    if (body) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.url}/api/v4${path}`, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new CliError(
        `GitLab unreachable at ${this.url} (${cause})`,
        EXIT.unreachable,
        "check the GitLab URL (gitlab.url in the config file) and the network",
      );
    }
    const text = await res.text();
    if (!res.ok) throw new GitLabHttpError(method, path, res.status, errorDetail(text));
    if (text.trim() === "") return null as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`GitLab ${method} ${path} answered something that is not JSON`, EXIT.checkFailed);
    }
  }

  currentUser() {
    return this.request<{ id: number; username: string }>("GET", "/user");
  }

  /** The runners of a type registered on the target (instance runners: every instance runner; admin only). */
  async listRunners(type: RunnerType, target: HookTarget): Promise<GitLabRunner[]> {
    const path =
      type === "instance_type"
        ? "/runners/all?type=instance_type&per_page=100"
        : `${base(target)}/runners?type=${type}&per_page=100`;
    return (await this.request<GitLabRunner[]>("GET", path)) ?? [];
  }

  async createRunner(type: RunnerType, target: HookTarget, settings: RunnerSettings) {
    const scope =
      type === "project_type"
        ? { project_id: await this.numericId(target) }
        : type === "group_type"
          ? { group_id: await this.numericId(target) }
          : {};
    return this.request<{ id: number; token: string }>("POST", "/user/runners", {
      runner_type: type,
      ...scope,
      description: settings.description,
      tag_list: settings.tagList.join(","),
      run_untagged: settings.runUntagged,
    });
  }

  updateRunner(id: number, settings: RunnerSettings) {
    return this.request<GitLabRunner>("PUT", `/runners/${id}`, {
      description: settings.description,
      tag_list: settings.tagList.join(","),
      run_untagged: settings.runUntagged,
    });
  }

  resetRunnerToken(id: number) {
    return this.request<{ token: string }>("POST", `/runners/${id}/reset_authentication_token`);
  }

  /** Whether GitLab accepts a runner authentication token (what `gitlab-runner verify` asks). */
  async verifyRunnerToken(token: string): Promise<boolean> {
    try {
      await this.request("POST", "/runners/verify", { token }, false);
      return true;
    } catch (err) {
      if (err instanceof GitLabHttpError && (err.status === 403 || err.status === 401 || err.status === 422))
        return false;
      throw err;
    }
  }

  async listHooks(target: HookTarget): Promise<GitLabHook[]> {
    return (await this.request<GitLabHook[]>("GET", `${base(target)}/hooks?per_page=100`)) ?? [];
  }

  getHook(target: HookTarget, hookId: number) {
    return this.request<GitLabHook>("GET", `${base(target)}/hooks/${hookId}`);
  }

  createHook(target: HookTarget, hook: HookSettings) {
    return this.request<GitLabHook>("POST", `${base(target)}/hooks`, hookBody(hook));
  }

  updateHook(target: HookTarget, hookId: number, hook: HookSettings) {
    return this.request<GitLabHook>("PUT", `${base(target)}/hooks/${hookId}`, hookBody(hook));
  }

  /** Asks GitLab to send a sample Job Hook to the hook now (also re-enables a disabled hook on success). */
  testHook(target: HookTarget, hookId: number) {
    return this.request<unknown>("POST", `${base(target)}/hooks/${hookId}/test/job_events`);
  }

  /** Numeric id of a project or group given by id or full path (`POST /user/runners` wants the number). */
  private async numericId(target: HookTarget): Promise<number> {
    if (/^\d+$/.test(target.id)) return Number(target.id);
    return (await this.request<{ id: number }>("GET", base(target))).id;
  }
}

export interface HookSettings {
  url: string;
  secretToken: string;
  pipelineEvents: boolean;
}

function hookBody(hook: HookSettings): Record<string, unknown> {
  return {
    url: hook.url,
    token: hook.secretToken,
    job_events: true,
    pipeline_events: hook.pipelineEvents,
    push_events: false,
    enable_ssl_verification: true,
  };
}

function errorDetail(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
    const detail = parsed.message ?? parsed.error;
    return typeof detail === "string" ? detail : JSON.stringify(detail ?? "").slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
