/**
 * `run_exec <script> <stage>`: runs one stage script in the job task — helper or build container by stage name —
 * streaming its output to the job log. A failing script is a build failure whose real exit code goes to
 * BUILD_EXIT_CODE_FILE; a lost task or channel is a system failure with the reason in the job log. On SIGTERM
 * (cancel, timeout) the step is stopped remotely (SIGTERM, SIGKILL after 1 s) and we return its result.
 */
import { readFile, writeFile } from "node:fs/promises";
import { exitCodesFrom, SystemFailure } from "../exit-codes.js";
import { routeStage } from "../stage-routing.js";
import { type DriverContext, identityFrom, jobKey, line, type StageIO } from "./context.js";
import { recoverJob } from "./job-file.js";
import { firstScriptByteMetric } from "./phase-metrics.js";

export async function runStage(
  ctx: DriverContext,
  io: StageIO,
  scriptPath: string,
  stage: string,
): Promise<number> {
  const codes = exitCodesFrom(io.env);
  try {
    if (!scriptPath || !stage) throw new SystemFailure("run needs <script path> <stage name> arguments");
    const key = jobKey(identityFrom(io.env));
    let job = ctx.jobs.get(key);
    if (!job) {
      job = await recoverJob(ctx, io.env).catch((error: Error) => {
        throw new SystemFailure(`cannot reattach to the job task after a driver restart: ${error.message}`);
      });
      if (job) ctx.jobs.set(key, job);
    }
    if (!job)
      throw new SystemFailure(
        "no job task is known for this job (prepare did not run, or the driver restarted)",
      );
    const route = routeStage(stage);
    if (!route.known)
      io.stdout(line(`WARNING: unknown stage '${stage}', running it in the helper container`));
    const script = await readFile(scriptPath, "utf8").catch((error: Error) => {
      throw new SystemFailure(`cannot read the stage script ${scriptPath}: ${error.message}`);
    });

    job.steps += 1;
    // The daemon's instance id keeps step ids unique when a restarted daemon reattaches to the same agent.
    const stepId = `${ctx.instanceId}.${job.steps}-${stage.replace(/[^A-Za-z0-9_-]/g, "_")}`.slice(0, 100);
    const onFirstByte = route.target === "build" ? firstScriptByteMetric(ctx, job, io.env) : undefined;
    const step = job.channel.runStep(stepId, route.target, script, (data, written) => {
      if (onFirstByte && data.some((piece) => piece.length > 0)) onFirstByte();
      return io.stdout(data, written) ? undefined : io.drained();
    });
    const stop = () => step.stop();
    if (io.cancelled.aborted) stop();
    io.cancelled.addEventListener("abort", stop, { once: true });
    const code = await step.done.finally(() => io.cancelled.removeEventListener("abort", stop));

    if (code === 0) return 0;
    if (codes.buildExitCodeFile) await writeFile(codes.buildExitCodeFile, `${code}\n`);
    return codes.buildFailure;
  } catch (error) {
    const message = (error as Error).message;
    io.stdout(line(`ERROR: Job failed (system failure): ${message}`));
    ctx.log("error", "run failed", { stage, error: message });
    return codes.systemFailure;
  }
}
