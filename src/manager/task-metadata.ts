/**
 * Which ECS task this manager is: its record in the state table is keyed by the task id. Read from the ECS task
 * metadata endpoint v4 (`$ECS_CONTAINER_METADATA_URI_V4/task`), or from SGR_TASK_ARN (tests, local runs).
 */
export const TASK_ARN_ENV = "SGR_TASK_ARN";
export const METADATA_URI_ENV = "ECS_CONTAINER_METADATA_URI_V4";

type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export interface TaskArnOptions {
  fetch?: FetchLike;
  attempts?: number;
  retryDelayMs?: number;
}

const TASK_ARN_PATTERN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task\/.+/;

/** The task ARN; throws with a clear message when neither source gives one. */
export async function resolveTaskArn(env: NodeJS.ProcessEnv, options: TaskArnOptions = {}): Promise<string> {
  const override = env[TASK_ARN_ENV]?.trim();
  if (override) {
    if (!TASK_ARN_PATTERN.test(override))
      throw new Error(`${TASK_ARN_ENV} is not an ECS task ARN: '${override}'`);
    return override;
  }
  const base = env[METADATA_URI_ENV]?.trim();
  if (!base) {
    throw new Error(
      `cannot tell which task this is: neither ${METADATA_URI_ENV} (set by ECS) nor ${TASK_ARN_ENV} is set`,
    );
  }
  const fetchFn = options.fetch ?? (globalThis.fetch as FetchLike);
  const attempts = options.attempts ?? 5;
  let lastError = "";
  // The endpoint can answer late in the first second of a task; retry briefly before giving up.
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetchFn(`${base}/task`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { TaskARN?: unknown };
      if (typeof body.TaskARN === "string" && TASK_ARN_PATTERN.test(body.TaskARN)) return body.TaskARN;
      throw new Error("answer has no TaskARN");
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, (options.retryDelayMs ?? 500) * attempt));
  }
  throw new Error(
    `task metadata endpoint ${base}/task gave no task ARN after ${attempts} attempts: ${lastError}`,
  );
}
