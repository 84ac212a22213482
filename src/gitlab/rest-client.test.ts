import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitLabApiSim } from "../../test/support/gitlab-api-sim.js";
import { GitLabApiError, GitLabRestClient, parseRetryAfterMs, runnerAcceptsTags } from "./rest-client.js";

describe("GitLab REST client", () => {
  const sim = new GitLabApiSim("glpat-unit");
  const sleeps: number[] = [];
  const client = (overrides: Partial<ConstructorParameters<typeof GitLabRestClient>[0]> = {}) =>
    new GitLabRestClient({
      baseUrl: `${sim.url}/`,
      token: "glpat-unit",
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...overrides,
    });

  beforeAll(async () => {
    await sim.start();
    sim.addJob({ id: 11, projectId: 7, status: "pending", tagList: ["fargate", "arm64"] });
    for (let i = 0; i < 230; i++)
      sim.addJob({ id: 1000 + i, projectId: 8, status: i % 2 ? "pending" : "running" });
  });
  afterAll(() => sim.stop());

  it("reads a job's status and tags with the PRIVATE-TOKEN header", async () => {
    const job = await client().getJob(7, 11);
    expect(job).toMatchObject({
      id: 11,
      projectId: 7,
      status: "pending",
      tagList: ["fargate", "arm64"],
      runnerId: null,
    });
    expect(sim.requests.at(-1)).toMatchObject({ path: "/api/v4/projects/7/jobs/11", token: "glpat-unit" });
  });

  it("lists every page of pending jobs", async () => {
    const before = sim.requests.length;
    const jobs = await client().listPendingJobs(8);
    expect(jobs).toHaveLength(115);
    expect(jobs.every((j) => j.status === "pending")).toBe(true);
    expect(sim.requests.length - before).toBe(2);
    expect(sim.requests.at(-1)?.path).toContain("scope[]=pending");
  });

  it("retries 429 and 5xx, honouring Retry-After", async () => {
    sleeps.length = 0;
    sim.queueFault({ status: 429, retryAfter: "2" }, { status: 502 });
    const job = await client({ maxAttempts: 3 }).getJob(7, 11);
    expect(job.id).toBe(11);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(2000);
  });

  it("gives up after maxAttempts with a retryable typed error", async () => {
    sim.queueFault({ status: 503 }, { status: 503 });
    const err = await client({ maxAttempts: 2 })
      .getJob(7, 11)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitLabApiError);
    expect(err).toMatchObject({ status: 503, retryable: true });
  });

  it("does not retry a 404 or a 401", async () => {
    const before = sim.requests.length;
    await expect(client().getJob(7, 999)).rejects.toMatchObject({ status: 404, retryable: false });
    await expect(client({ token: "wrong" }).getJob(7, 11)).rejects.toMatchObject({
      status: 401,
      retryable: false,
    });
    expect(sim.requests.length - before).toBe(2);
  });

  it("times out a stalled answer and retries it", async () => {
    sim.queueFault({ status: "stall" });
    const job = await client({ timeoutMs: 200, maxAttempts: 2 }).getJob(7, 11);
    expect(job.status).toBe("pending");
  });

  it("never puts the token in an error message", async () => {
    sim.queueFault({ status: 500 });
    const err = (await client({ maxAttempts: 1 })
      .getJob(7, 11)
      .catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain("glpat-unit");
  });
});

describe("Retry-After parsing", () => {
  it("reads seconds and HTTP dates, ignores garbage", () => {
    expect(parseRetryAfterMs("3")).toBe(3000);
    expect(parseRetryAfterMs(new Date(10_000 + 5000).toUTCString(), 10_000)).toBe(5000);
    expect(parseRetryAfterMs("soon")).toBeUndefined();
    expect(parseRetryAfterMs(null)).toBeUndefined();
  });
});

describe("tag matching (GitLab's rule)", () => {
  const runner = { tags: ["fargate", "arm64"], runUntagged: false };
  it("needs every job tag among the runner's tags", () => {
    expect(runnerAcceptsTags(["fargate"], runner)).toBe(true);
    expect(runnerAcceptsTags(["fargate", "arm64"], runner)).toBe(true);
    expect(runnerAcceptsTags(["fargate", "gpu"], runner)).toBe(false);
  });
  it("takes untagged jobs only with runUntagged", () => {
    expect(runnerAcceptsTags([], runner)).toBe(false);
    expect(runnerAcceptsTags([], { ...runner, runUntagged: true })).toBe(true);
  });
});
