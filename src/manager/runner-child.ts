/**
 * What the supervisor, the runner generations and the wake share: a gitlab-runner process as they see it, and the
 * slice of the logger they use. A module of its own so none of them imports another just for its types.
 */

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A gitlab-runner process. */
export interface RunnerProcess {
  signal(sig: NodeJS.Signals): void;
  exited: Promise<ChildExit>;
}

/** A gitlab-runner generation, as the supervisor sees it: the process and its own config.toml. */
export interface RunnerChild extends RunnerProcess {
  /** Lets it run up to `concurrent` jobs from now on (gitlab-runner rereads its config.toml every 3 s). */
  allow(concurrent: number): Promise<void>;
}

/** The slice of the Powertools logger the supervisor uses (tests pass a recording fake). */
export interface SupervisorLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}
