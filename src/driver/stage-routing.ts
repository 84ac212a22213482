/**
 * Which container of the job task runs a `run_exec` stage. The custom executor does not pass the "predefined"
 * flag the Docker/Kubernetes executors use, so we decide by name: the helper container (git, git-lfs,
 * gitlab-runner) runs source, cache and artifact stages; the user's image runs the user's own scripts.
 */
export type StageTarget = "helper" | "build";

export interface StageRoute {
  target: StageTarget;
  /** False for a name this driver does not know (a newer gitlab-runner); routed to the helper with a warning. */
  known: boolean;
}

const helperStages = new Set([
  "get_sources",
  "clear_worktree",
  "restore_cache",
  "download_artifacts",
  "archive_cache",
  "archive_cache_on_failure",
  "upload_artifacts_on_success",
  "upload_artifacts_on_failure",
  "cleanup_file_variables",
]);

const buildStages = new Set(["prepare_script", "build_script", "after_script"]);

export function routeStage(stage: string): StageRoute {
  if (buildStages.has(stage) || /^step_[A-Za-z0-9_-]+$/.test(stage)) {
    return { target: "build", known: true };
  }
  if (helperStages.has(stage)) return { target: "helper", known: true };
  // Unknown names: future predefined stages (all user steps are `step_*`) need the helper's tools.
  return { target: "helper", known: false };
}
