/**
 * Exit codes of the custom-executor protocol. gitlab-runner tells us the codes in the environment (the docs warn
 * they may change), so we never hard-code 1/2 except as a fallback when the variables are missing.
 */
export interface ExitCodes {
  buildFailure: number;
  systemFailure: number;
  /** Where the real exit code of a failed user script goes (makes `allow_failure: exit_codes:` work). */
  buildExitCodeFile?: string;
}

function intFrom(value: string | undefined, fallback: number): number {
  if (value === undefined || !/^\d+$/.test(value.trim())) return fallback;
  return Number(value.trim());
}

export function exitCodesFrom(env: Record<string, string | undefined>): ExitCodes {
  return {
    buildFailure: intFrom(env.BUILD_FAILURE_EXIT_CODE, 1),
    systemFailure: intFrom(env.SYSTEM_FAILURE_EXIT_CODE, 2),
    buildExitCodeFile: env.BUILD_EXIT_CODE_FILE || undefined,
  };
}

/** Infrastructure failed (task stopped, image pull, channel lost): job ends as a system failure. */
export class SystemFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SystemFailure";
  }
}
