/**
 * `config_exec`: tells gitlab-runner where builds and cache live inside the job task and names the driver.
 * Nothing is started here (it runs again before each preparation retry).
 */
import { exitCodesFrom } from "../exit-codes.js";
import { type DriverContext, identityFrom, line, type StageIO } from "./context.js";

export const DRIVER_NAME = "sgr-driver";
export const DRIVER_VERSION = "0.1.0";

export async function configStage(ctx: DriverContext, io: StageIO): Promise<number> {
  const codes = exitCodesFrom(io.env);
  try {
    const identity = identityFrom(io.env);
    const backend = await ctx.backend(io.env);
    const paths = backend.jobPaths?.(identity) ?? { buildsDir: "/builds", cacheDir: "/cache" };
    io.stdout(
      JSON.stringify({
        builds_dir: paths.buildsDir,
        cache_dir: paths.cacheDir,
        builds_dir_is_shared: false,
        hostname: `sgr-job-${identity.jobId}`,
        driver: { name: DRIVER_NAME, version: DRIVER_VERSION },
      }),
    );
    return 0;
  } catch (error) {
    io.stderr(line(`ERROR: sgr-driver config: ${(error as Error).message}`));
    return codes.systemFailure;
  }
}
