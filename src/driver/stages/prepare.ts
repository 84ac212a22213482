/**
 * `prepare_exec`: starts the job's task and waits until its agent answers on the authenticated channel and its
 * services accept connections. Idempotent: gitlab-runner retries preparation up to 3 times (with cleanup in
 * between), so a task already started for this job is reaped before a new one starts — its secret may be lost
 * with a previous daemon, and a half-prepared task is not worth trusting.
 */

import { randomBytes } from "node:crypto";
import { jobStartMs } from "../../observability/phase-timing.js";
import type { Backend, JobIdentity, JobTaskShape, StartedTask } from "../backend.js";
import { AgentChannel } from "../channel/agent-channel.js";
import { exitCodesFrom, SystemFailure } from "../exit-codes.js";
import { readJobSpec } from "../job-spec.js";
import { registryAccessWarnings } from "../registry-access.js";
import { resolveSettings } from "../sizing.js";
import {
  type DriverContext,
  identityFrom,
  type JobTaskUsage,
  jobKey,
  line,
  type StageIO,
} from "./context.js";
import { saveJobFile } from "./job-file.js";
import { jobCapacity, placeJob, placementNote } from "./job-placement.js";
import { emitJobTaskRunning } from "./phase-metrics.js";
import { emitSpeculativeMetrics, recordRecipe } from "./speculative.js";

const SERVICE_WAIT_MS = 30_000;
/** Without known ports, services get this long to come up (the Docker executor inspects images; we cannot). */
const SERVICE_SETTLE_MS = 2_000;
const HELPER_IMAGE = process.env.SGR_HELPER_IMAGE ?? "sgr-helper";

export async function prepareStage(ctx: DriverContext, io: StageIO): Promise<number> {
  const codes = exitCodesFrom(io.env);
  const startedAtMs = jobStartMs(io.env.CUSTOM_ENV_CI_JOB_STARTED_AT, Date.now());
  let started: { backend: Backend; task: StartedTask } | undefined;
  try {
    const identity = identityFrom(io.env);
    // The manager holds the job from now: its wake and idle stop count it while the task still starts.
    await recordJobStart(ctx, identity);
    const settings = ctx.jobSettings(io.env);
    const spec = placeJob(await readJobSpec(io.env, settings.defaultImage), io.env, settings);
    const resolved = resolveSettings(spec.sizeRequest, settings);
    const access = registryAccessWarnings(
      [spec.build, ...spec.services],
      spec.credentials,
      settings.registryCredentials,
    );
    for (const warning of [...spec.warnings, ...resolved.warnings, ...access])
      io.stdout(line(`WARNING: ${warning}`));

    const backend = await ctx.backend(io.env);
    const key = jobKey(identity);
    await stopEarlierAttempt(ctx, backend, identity, io);

    const shape: JobTaskShape = {
      build: spec.build,
      services: spec.services,
      architecture: resolved.architecture,
      managedInstances: spec.placement.managedInstances
        ? { privileged: spec.placement.privileged, gpus: spec.placement.gpus }
        : undefined,
      helperImage: HELPER_IMAGE,
      registryCredentials: settings.registryCredentials,
    };
    const agentSecret = randomBytes(32).toString("hex");
    const { size } = resolved;
    const capacity = jobCapacity(spec.placement, resolved.capacity);
    io.stdout(
      line(
        `Starting job task for image ${spec.build.image} (${size.cpu / 1024} vCPU, ${size.memoryMiB} MiB, ` +
          `${size.ephemeralStorageGiB} GiB disk, ${resolved.architecture}, ${capacity}${placementNote(spec.placement)}) ` +
          `on the ${backend.name} backend`,
      ),
    );
    const task = await backend.startTask(
      {
        identity,
        shape,
        settings: { size, capacity },
        agentSecret,
        // What the backend decided on the job's behalf (e.g. on-demand because Spot had no capacity) belongs in the job log.
        notice: (text) => io.stdout(line(text)),
        onSpeculative: (event) => emitSpeculativeMetrics(ctx, identity, event),
      },
      io.cancelled,
    );
    started = { backend, task };
    const usage: JobTaskUsage = {
      task: {
        ...size,
        architecture: resolved.architecture,
        // The backend says when it ran the task on another capacity than asked (Spot had none: on-demand).
        capacity: task.capacity ?? capacity,
        publicIpv4: task.publicIpv4,
        gpus: spec.placement.gpus || undefined,
      },
      // An adopted task has billed since it started, before this job took it.
      startedAtMs: task.billedFromMs ?? Date.now(),
    };
    const channel = await openChannel(ctx, backend, task, task.agentSecret ?? agentSecret, io.cancelled);
    task
      .afterConnect?.()
      .catch((error: Error) => ctx.log("warn", "after-connect step failed", { error: error.message }));
    const agentAnsweredMs = Date.now();
    ctx.jobs.set(key, { identity, backend, taskId: task.taskId, channel, steps: 0, startedAtMs, usage });
    await saveJobFile(io.env, {
      taskId: task.taskId,
      endpoint: task.endpoint,
      secret: channel.currentSecret,
    });
    io.stdout(line(`Job task ${task.taskId} is running`));

    await waitForServices(spec.services, backend, channel, io);
    recordTaskSize(ctx, identity, usage);
    recordRecipe(ctx, settings, identity, io.env.CUSTOM_ENV_CI_JOB_NAME, task);
    // Only a preparation that succeeded counts (a failed attempt is retried by gitlab-runner): once per job.
    emitJobTaskRunning(ctx, identity.jobId, startedAtMs, agentAnsweredMs);
    return 0;
  } catch (error) {
    const message = error instanceof SystemFailure || error instanceof Error ? error.message : String(error);
    io.stdout(line(`ERROR: Job task preparation failed: ${message}`));
    ctx.log("error", "prepare failed", { error: message });
    if (started) {
      await started.backend.stopTask(started.task.taskId, `preparation failed: ${message}`).catch(() => {});
    }
    return codes.systemFailure;
  }
}

/** A retried preparation: closes the earlier attempt's channel and stops the task it (or a lost daemon) left. */
async function stopEarlierAttempt(
  ctx: DriverContext,
  backend: Backend,
  identity: JobIdentity,
  io: StageIO,
): Promise<void> {
  const key = jobKey(identity);
  const previous = ctx.jobs.get(key);
  if (previous) {
    previous.channel.close();
    ctx.jobs.delete(key);
  }
  const leftover = previous?.taskId ?? (await backend.findTask(identity));
  if (leftover) {
    io.stdout(line(`Stopping task ${leftover} left by an earlier preparation attempt`));
    await backend.stopTask(leftover, "replaced by a new preparation attempt");
  }
}

/** Bookkeeping of a job the manager holds, on the state table; its failure is logged, never the job's. */
async function recordJobStart(ctx: DriverContext, identity: JobIdentity): Promise<void> {
  await ctx
    .onJobStarted?.(identity)
    .catch((error: Error) => ctx.log("warn", "could not record the job start", { error: error.message }));
}

/** The job task's size, for its cost. Not awaited: the job's start must not wait (cleanup writes it again anyway). */
function recordTaskSize(ctx: DriverContext, identity: JobIdentity, usage: JobTaskUsage): void {
  void ctx
    .onJobTaskSized?.(identity, usage.task)
    .catch((error: Error) =>
      ctx.log("warn", "could not record the job's task size", { error: error.message }),
    );
}

/** Connects to the agent, retrying while the task starts; fails with the stop reason if the task dies. */
async function openChannel(
  ctx: DriverContext,
  backend: Backend,
  task: StartedTask,
  secret: string,
  cancelled: AbortSignal,
): Promise<AgentChannel> {
  const deadline = Date.now() + (ctx.agentWaitMs ?? 10 * 60_000);
  let lastError = "not reachable";
  let delay = 20;
  while (Date.now() < deadline) {
    if (cancelled.aborted) throw new SystemFailure("preparation was cancelled");
    const state = await backend.describeTask(task.taskId);
    if (state.state === "stopped") throw new SystemFailure(`the job task stopped: ${state.reason}`);
    if (state.state === "running") {
      try {
        return await AgentChannel.open({
          endpoint: task.endpoint,
          secret,
          taskStoppedReason: async () => {
            const now = await backend.describeTask(task.taskId);
            return now.state === "stopped" ? now.reason : undefined;
          },
          log: (message, detail) => ctx.log("info", message, { taskId: task.taskId, ...detail }),
        });
      } catch (error) {
        lastError = (error as Error).message;
      }
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
  const tail = await backend.taskLogTail?.(task.taskId).catch(() => undefined);
  throw new SystemFailure(
    `the job task's agent did not answer in time (${lastError})${tail ? `; the task's log ends with:\n${tail}` : ""}`,
  );
}

async function waitForServices(
  services: { image: string; ports: number[] }[],
  backend: Backend,
  channel: AgentChannel,
  io: StageIO,
): Promise<void> {
  if (services.length === 0) return;
  const ports = services.flatMap((s) =>
    s.ports.length > 0 ? s.ports : (backend.servicePorts?.(s.image) ?? []),
  );
  if (ports.length === 0) {
    io.stdout(line(`Waiting ${SERVICE_SETTLE_MS / 1000} s for services (no ports known to check)`));
    await new Promise((r) => setTimeout(r, SERVICE_SETTLE_MS));
    return;
  }
  io.stdout(line(`Waiting for services on the task's port(s) ${ports.join(", ")}`));
  const result = await channel.waitPorts(ports, SERVICE_WAIT_MS);
  // Like the Docker executor: a service that is not up is a warning, the job decides whether it matters.
  if (result.notReady.length > 0) {
    io.stdout(
      line(`WARNING: service port(s) ${result.notReady.join(", ")} did not accept connections in time`),
    );
  }
}
