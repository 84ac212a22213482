/**
 * Where things live inside the images. One module, so the manager entrypoint, the rendered config.toml,
 * the Dockerfiles (images/manager, images/helper) and the driver agree on the same paths.
 */

/** Root of everything we add to an image. */
export const SGR_ROOT = "/opt/sgr";

/**
 * The driver's per-stage executable. gitlab-runner calls it as `sgr-driver config|prepare|run|cleanup`
 * (run also gets `<script path> <stage name>`). A small shell wrapper that starts the driver bundle.
 */
export const DRIVER_EXECUTABLE = `${SGR_ROOT}/bin/sgr-driver`;

/** The agent inside the job task's helper container (images/helper): a static binary built from src/agent. */
export const AGENT_EXECUTABLE = `${SGR_ROOT}/bin/sgr-agent`;

/** Bundles (esbuild output) the driver and the manager entrypoint run. */
export const BUNDLE_DIR = `${SGR_ROOT}/lib`;
export const MANAGER_BUNDLE = `${BUNDLE_DIR}/manager.mjs`;
export const DRIVER_BUNDLE = `${BUNDLE_DIR}/driver.mjs`;

/**
 * Writable home of the manager process: config.toml, .runner_system_id and gitlab-runner's working
 * directory. Owned by the image's non-root user. Tests override it with SGR_RUNNER_HOME.
 */
export const DEFAULT_RUNNER_HOME = "/var/lib/sgr";

/** File names gitlab-runner expects; `.runner_system_id` must sit next to config.toml. */
export const CONFIG_FILE_NAME = "config.toml";
export const SYSTEM_ID_FILE_NAME = ".runner_system_id";

/** Paths inside the job task (not the manager): where builds and the local cache live. */
export const JOB_BUILDS_DIR = "/builds";
export const JOB_CACHE_DIR = "/cache";
