import { describe, expect, it } from "vitest";
import { resolveTaskArn } from "./task-metadata.js";

const arn = "arn:aws:ecs:eu-west-1:123456789012:task/sgr-cluster/0123456789abcdef0123456789abcdef";

/** A hand-written stand-in for the ECS metadata endpoint: answers from a script of responses. */
function scriptedFetch(answers: ({ status: number; body?: unknown } | Error)[]) {
  const urls: string[] = [];
  const fetch = async (url: string) => {
    urls.push(url);
    const answer = answers.shift() ?? new Error("no more answers");
    if (answer instanceof Error) throw answer;
    return { ok: answer.status < 400, status: answer.status, json: async () => answer.body };
  };
  return { fetch, urls };
}

describe("task ARN resolution", () => {
  it("prefers SGR_TASK_ARN and validates it", async () => {
    await expect(resolveTaskArn({ SGR_TASK_ARN: arn })).resolves.toBe(arn);
    await expect(resolveTaskArn({ SGR_TASK_ARN: "task-1" })).rejects.toThrow(/not an ECS task ARN/);
  });

  it("reads TaskARN from the metadata endpoint v4, retrying while it is not ready", async () => {
    const { fetch, urls } = scriptedFetch([
      new Error("ECONNREFUSED"),
      { status: 500 },
      { status: 200, body: { TaskARN: arn } },
    ]);
    const result = await resolveTaskArn(
      { ECS_CONTAINER_METADATA_URI_V4: "http://169.254.170.2/v4/abc" },
      { fetch, retryDelayMs: 1 },
    );
    expect(result).toBe(arn);
    expect(urls).toEqual(Array(3).fill("http://169.254.170.2/v4/abc/task"));
  });

  it("gives up with a clear message", async () => {
    await expect(resolveTaskArn({})).rejects.toThrow(
      /neither ECS_CONTAINER_METADATA_URI_V4 .* nor SGR_TASK_ARN/,
    );
    const { fetch } = scriptedFetch([
      { status: 200, body: {} },
      { status: 200, body: { TaskARN: 7 } },
    ]);
    await expect(
      resolveTaskArn(
        { ECS_CONTAINER_METADATA_URI_V4: "http://meta" },
        { fetch, attempts: 2, retryDelayMs: 1 },
      ),
    ).rejects.toThrow(/after 2 attempts: answer has no TaskARN/);
  });
});
