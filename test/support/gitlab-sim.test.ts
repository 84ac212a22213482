/**
 * The simulator's protocol details, checked with plain HTTP (the e2e tests check it against the real runner):
 * token checks, the two-phase acknowledgement, trace offsets (202/416 with Range), cancel signalling and artifacts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitLabSim, parseMultipartFile } from "./gitlab-sim.js";

let sim: GitLabSim;
let runnerToken: string;

beforeAll(async () => {
  sim = await new GitLabSim({ longPollMs: 50 }).start();
  runnerToken = sim.addRunner();
});

afterAll(async () => {
  await sim.close();
});

const api = (path: string, init: RequestInit = {}) => fetch(`${sim.url}/api/v4/${path}`, init);
const json = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

async function takeJob(): Promise<{ id: number; token: string; payload: Record<string, unknown> }> {
  const res = await api(
    "jobs/request",
    json({ token: runnerToken, info: { features: { two_phase_job_commit: true } } }),
  );
  expect(res.status).toBe(201);
  expect(res.headers.get("content-type")).toBe("application/json");
  const payload = (await res.json()) as Record<string, unknown> & { id: number; token: string };
  return { id: payload.id, token: payload.token, payload };
}

const put = (id: number, body: Record<string, unknown>) =>
  api(`jobs/${id}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

const patch = (id: number, token: string, start: number, text: string) =>
  api(`jobs/${id}/trace?debug_trace=false`, {
    method: "PATCH",
    headers: {
      "JOB-TOKEN": token,
      "Content-Type": "text/plain",
      "Content-Range": `${start}-${start + text.length - 1}`,
    },
    body: text,
  });

describe("GitLab simulator", () => {
  it("rejects unknown runner tokens and answers 204 with X-GitLab-Last-Update when no job waits", async () => {
    expect((await api("jobs/request", json({ token: "glrt-wrong" }))).status).toBe(403);
    expect((await api("runners/verify", json({ token: runnerToken }))).status).toBe(200);
    const empty = await api("jobs/request", json({ token: runnerToken }));
    expect(empty.status).toBe(204);
    expect(empty.headers.get("x-gitlab-last-update")).toMatch(/^[0-9a-f]+$/);
  });

  it("hands out a job payload the runner understands and keeps it pending until acknowledged", async () => {
    const queued = sim.enqueue({
      name: "payload",
      script: ["echo hi"],
      afterScript: ["echo bye"],
      timeoutSeconds: 60,
    });
    const { id, token, payload } = await takeJob();
    expect(id).toBe(queued.id);
    expect(payload).toMatchObject({
      runner_info: { timeout: 60 },
      steps: [
        { name: "script", script: ["echo hi"], when: "on_success" },
        { name: "after_script", script: ["echo bye"], when: "always" },
      ],
    });
    expect(String((payload.git_info as { repo_url: string }).repo_url)).toContain(
      `gitlab-ci-token:${token}@`,
    );
    expect(queued.status).toBe("pending");
    expect((await put(id, { token: "wrong", state: "running" })).status).toBe(403);
    const ack = await put(id, { token, state: "running" });
    expect(ack.status).toBe(200);
    expect(ack.headers.get("job-status")).toBe("running");
    expect(queued.status).toBe("running");
  });

  it("appends trace at the stored offset only: 202 with Range, 416 with the stored size otherwise", async () => {
    sim.enqueue({ name: "trace", script: ["true"] });
    const { id, token } = await takeJob();
    const first = await patch(id, token, 0, "hello ");
    expect(first.status).toBe(202);
    expect(first.headers.get("range")).toBe("0-6");
    const gap = await patch(id, token, 10, "lost");
    expect(gap.status).toBe(416);
    expect(gap.headers.get("range")).toBe("0-6");
    expect((await patch(id, token, 6, "world")).status).toBe(202);
    const job = sim.jobs.get(id);
    expect(job && sim.traceText(job)).toBe("hello world");
  });

  it("signals cancel on trace and update responses and finishes the job as canceled", async () => {
    sim.enqueue({ name: "cancel", script: ["sleep 60"] });
    const { id, token } = await takeJob();
    await put(id, { token, state: "running" });
    const job = sim.jobs.get(id);
    if (!job) throw new Error("job not recorded");
    sim.cancel(job);
    expect((await patch(id, token, 0, "tick")).headers.get("job-status")).toBe("canceling");
    const finished = sim.waitForFinal(job, 1000);
    expect((await put(id, { token, state: "failed", failure_reason: "job_canceled" })).status).toBe(200);
    await finished;
    expect(job.status).toBe("canceled");
    expect(job.final).toMatchObject({ state: "failed", failureReason: "job_canceled" });
    // A finished job refuses further updates, as GitLab does.
    expect((await put(id, { token, state: "running" })).status).toBe(403);
  });

  it("stores uploaded artifacts and serves them to a later job", async () => {
    sim.enqueue({ name: "upload", script: ["true"] });
    const { id, token } = await takeJob();
    const form = new FormData();
    form.append("file", new Blob([Buffer.from("PK-zip-bytes")]), "artifacts.zip");
    const upload = await api(`jobs/${id}/artifacts?artifact_format=zip&artifact_type=archive`, {
      method: "POST",
      headers: { "JOB-TOKEN": token },
      body: form,
    });
    expect(upload.status).toBe(201);
    const download = await api(`jobs/${id}/artifacts`, { headers: { "JOB-TOKEN": token } });
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).toString()).toBe("PK-zip-bytes");
    expect((await api(`jobs/${id}/artifacts`, { headers: { "JOB-TOKEN": "nope" } })).status).toBe(403);
  });

  it("parses only a multipart body with a file part", () => {
    const body = Buffer.from(
      '--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nDATA\r\n--b--\r\n',
    );
    expect(parseMultipartFile("multipart/form-data; boundary=b", body)).toEqual({
      filename: "a.zip",
      data: Buffer.from("DATA"),
    });
    expect(parseMultipartFile("application/json", body)).toBeUndefined();
  });
});

describe("GitLab simulator's long polling modes", () => {
  const request = (target: GitLabSim, token: string, lastUpdate?: string, signal?: AbortSignal) =>
    fetch(`${target.url}/api/v4/jobs/request`, { ...json({ token, last_update: lastUpdate }), signal });

  it("workhorse: holds a request carrying the current queue value, answers 204 without a value when a job arrives, and the next request gets the job", async () => {
    const workhorse = await new GitLabSim({ longPolling: "workhorse", longPollMs: 5_000 }).start();
    try {
      const token = workhorse.addRunner();
      const first = await request(workhorse, token);
      expect(first.status).toBe(204);
      expect(first.headers.get("gitlab-ci-builds-polling")).toBe("yes");
      const value = first.headers.get("x-gitlab-last-update") ?? "";
      expect(value).toMatch(/^[0-9a-f]+$/);

      const sentAt = Date.now();
      const held = request(workhorse, token, value);
      await new Promise((r) => setTimeout(r, 300));
      const job = workhorse.enqueue({ name: "arrives", script: ["true"] });
      const released = await held;
      expect(released.status).toBe(204);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(300);
      expect(Date.now() - sentAt).toBeLessThan(5_000);
      expect(released.headers.get("x-gitlab-last-update")).toBeNull();
      expect(job.assignedAt).toBeUndefined();

      // The runner still sends its old value: stale, so Workhorse passes it to Rails, which hands out the job.
      const next = await request(workhorse, token, value);
      expect(next.status).toBe(201);
      expect(((await next.json()) as { id: number }).id).toBe(job.id);
    } finally {
      await workhorse.close();
    }
  });

  it("workhorse: a held request with nothing queued ends after the polling duration with 204", async () => {
    const workhorse = await new GitLabSim({ longPolling: "workhorse", longPollMs: 400 }).start();
    try {
      const token = workhorse.addRunner();
      const value = (await request(workhorse, token)).headers.get("x-gitlab-last-update") ?? "";
      const sentAt = Date.now();
      const res = await request(workhorse, token, value);
      expect(res.status).toBe(204);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(390);
      expect(res.headers.get("x-gitlab-last-update")).toBeNull();
    } finally {
      await workhorse.close();
    }
  });

  it("idealised: a held request whose runner went away takes no job; the next request gets it", async () => {
    const idealised = await new GitLabSim({ longPolling: "idealised", longPollMs: 5_000 }).start();
    try {
      const token = idealised.addRunner();
      const abandoned = new AbortController();
      const held = request(idealised, token, undefined, abandoned.signal).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      abandoned.abort();
      await held;
      await new Promise((r) => setTimeout(r, 100));
      const job = idealised.enqueue({ name: "after-the-runner-left", script: ["true"] });
      await new Promise((r) => setTimeout(r, 100));
      expect(job.assignedAt).toBeUndefined();

      const next = await request(idealised, token);
      expect(next.status).toBe(201);
      expect(((await next.json()) as { id: number }).id).toBe(job.id);
    } finally {
      await idealised.close();
    }
  });

  it("off: answers every request at once, echoing the queue value", async () => {
    const off = await new GitLabSim({ longPolling: "off", longPollMs: 5_000 }).start();
    try {
      const token = off.addRunner();
      const value = (await request(off, token)).headers.get("x-gitlab-last-update") ?? "";
      const sentAt = Date.now();
      const res = await request(off, token, value);
      expect(res.status).toBe(204);
      expect(Date.now() - sentAt).toBeLessThan(1_000);
      expect(res.headers.get("x-gitlab-last-update")).toBe(value);
      expect(res.headers.get("gitlab-ci-builds-polling")).toBeNull();
    } finally {
      await off.close();
    }
  });
});
