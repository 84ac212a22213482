/**
 * `cleanup_exec`: always stops the job's task (also after cancellation, a failed prepare or a daemon restart) and
 * never fails the job — its output goes to the runner's log, not the job's.
 */
import { type DriverContext, identityFrom, jobKey, line, type StageIO } from "./context.js";
import { recoverJob, removeJobFile } from "./job-file.js";
import { emitJobTaskCost } from "./task-cost.js";

export async function cleanupStage(ctx: DriverContext, io: StageIO): Promise<number> {
  try {
    const identity = identityFrom(io.env);
    const key = jobKey(identity);
    const job = ctx.jobs.get(key) ?? (await recoverJob(ctx, io.env).catch(() => undefined));
    ctx.jobs.delete(key);
    await removeJobFile(io.env);
    job?.channel.close();
    const backend = job?.backend ?? (await ctx.backend(io.env));
    const taskId = job?.taskId ?? (await backend.findTask(identity));
    if (taskId) {
      await backend.stopTask(taskId, "job finished");
      io.stdout(line(`Stopped job task ${taskId}`));
    }
    if (job) {
      // Once per job: the job left ctx.jobs above, so a second cleanup finds no usage to price.
      emitJobTaskCost(ctx, job);
      await ctx
        .onJobFinished?.(identity)
        .catch((error: Error) => ctx.log("warn", "could not record the job end", { error: error.message }));
      // Again at the end: prepare's write finds no job record when the job-status function had not written it yet.
      if (job.usage) {
        await ctx
          .onJobTaskSized?.(identity, job.usage.task)
          .catch((error: Error) =>
            ctx.log("warn", "could not record the job's task size", { error: error.message }),
          );
      }
    }
  } catch (error) {
    io.stderr(line(`sgr-driver cleanup: ${(error as Error).message}`));
    ctx.log("warn", "cleanup problem", { error: (error as Error).message });
  }
  return 0;
}
