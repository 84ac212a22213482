/**
 * The job's connection details, kept in gitlab-runner's per-job temp dir (TMPDIR, deleted after the job) so a
 * daemon that restarted mid-job (crash, upgrade) can reattach to the running task instead of failing the job.
 * Holds the channel secret: written 0600 next to JOB_RESPONSE_FILE, which holds the job token anyway.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AgentEndpoint } from "../backend.js";
import { AgentChannel } from "../channel/agent-channel.js";
import type { StageEnv } from "../job-spec.js";
import { type DriverContext, identityFrom, type JobState } from "./context.js";

const FILE_NAME = "sgr-driver-job.json";

interface JobFile {
  taskId: string;
  endpoint: AgentEndpoint;
  secret: string;
}

const pathOf = (env: StageEnv) => (env.TMPDIR ? join(env.TMPDIR, FILE_NAME) : undefined);

export async function saveJobFile(env: StageEnv, content: JobFile): Promise<void> {
  const path = pathOf(env);
  if (path) await writeFile(path, JSON.stringify(content), { mode: 0o600 });
}

export async function removeJobFile(env: StageEnv): Promise<void> {
  const path = pathOf(env);
  if (path) await rm(path, { force: true });
}

/** Rebuilds a job's state from its file, or undefined when there is none (prepare never succeeded). */
export async function recoverJob(ctx: DriverContext, env: StageEnv): Promise<JobState | undefined> {
  const path = pathOf(env);
  if (!path) return undefined;
  let saved: JobFile;
  try {
    saved = JSON.parse(await readFile(path, "utf8")) as JobFile;
  } catch {
    return undefined;
  }
  const backend = await ctx.backend(env);
  const channel = await AgentChannel.open({
    endpoint: saved.endpoint,
    secret: saved.secret,
    rotateSecret: false,
    taskStoppedReason: async () => {
      const state = await backend.describeTask(saved.taskId);
      return state.state === "stopped" ? state.reason : undefined;
    },
  });
  ctx.log("info", "reattached to a job task after a daemon restart", { taskId: saved.taskId });
  return { identity: identityFrom(env), backend, taskId: saved.taskId, channel, steps: 0 };
}
