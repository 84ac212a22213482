/**
 * Exit codes of the `sgr` CLI, documented in docs/cli.md: scripts branch on them, so they never change meaning.
 */
export const EXIT = {
  /** Everything asked for was done / every check passed. */
  ok: 0,
  /** A check failed or a step could not complete (the message says what to fix). */
  checkFailed: 1,
  /** Bad command line or configuration file: nothing was changed. */
  usage: 2,
  /** AWS or GitLab could not be reached (network, DNS, timeout, missing AWS credentials). */
  unreachable: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one clear line (plus a fix) and turns into its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** What the operator should do about it. */
    readonly fix?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

const UNREACHABLE_ERROR_NAMES = new Set([
  "TimeoutError",
  "NetworkingError",
  "CredentialsProviderError",
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNRESET",
  "ETIMEDOUT",
]);

/** Whether an AWS SDK error means "could not talk to AWS" rather than "AWS said no". */
export function isUnreachableAwsError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  if (UNREACHABLE_ERROR_NAMES.has(e.name ?? "") || UNREACHABLE_ERROR_NAMES.has(e.code ?? "")) return true;
  return (
    e.$metadata?.httpStatusCode === undefined && /connect|socket|timed? ?out|getaddrinfo/i.test(String(e))
  );
}

/** Wraps an AWS failure into a CliError with the right exit code and what was being done. */
export function awsError(doing: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const e = err as { name?: string; message?: string };
  if (isUnreachableAwsError(err)) {
    return new CliError(
      `AWS unreachable while ${doing}: ${e.name ?? "Error"}: ${e.message ?? String(err)}`,
      EXIT.unreachable,
      "check AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID), AWS_REGION and network access",
    );
  }
  return new CliError(
    `AWS refused ${doing}: ${e.name ?? "Error"}: ${e.message ?? String(err)}`,
    EXIT.checkFailed,
  );
}
