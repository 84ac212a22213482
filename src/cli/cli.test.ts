import { resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createAwsClients } from "./clients.js";
import { waitForDelivery } from "./delivery-check.js";
import { doctorExitCode, formatDoctor } from "./doctor.js";
import { awsError, CliError, EXIT, isUnreachableAwsError } from "./exit-codes.js";
import { GitLabApi, GitLabHttpError } from "./gitlab-api.js";
import { COMMAND_HELP, runCli, USAGE } from "./main.js";

const TOKEN = "glpat-secret-value";

function fakeFetch(status: number, body: unknown, seen: { url: string; init: RequestInit }[] = []) {
  return (async (url: string, init: RequestInit) => {
    seen.push({ url, init });
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
  }) as unknown as typeof fetch;
}

describe("GitLabApi", () => {
  it("sends the token in PRIVATE-TOKEN only, and a tag list as GitLab's comma-separated string", async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const api = new GitLabApi(
      "https://gitlab.example.com",
      TOKEN,
      fakeFetch(201, { id: 5, token: "glrt-x" }, seen),
    );
    await api.createRunner(
      "project_type",
      { kind: "project", id: "42" },
      { description: "d", tagList: ["a", "b"], runUntagged: false },
    );
    expect(seen[0]!.url).toBe("https://gitlab.example.com/api/v4/user/runners");
    expect((seen[0]!.init.headers as Record<string, string>)["private-token"]).toBe(TOKEN);
    expect(JSON.parse(String(seen[0]!.init.body))).toEqual({
      runner_type: "project_type",
      project_id: 42,
      description: "d",
      tag_list: "a,b",
      run_untagged: false,
    });
  });

  it("encodes a project path, and never sends the operator's token to /runners/verify", async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    await new GitLabApi("https://g.example", TOKEN, fakeFetch(200, [], seen)).listHooks({
      kind: "project",
      id: "grp/sub/proj",
    });
    expect(seen[0]!.url).toBe("https://g.example/api/v4/projects/grp%2Fsub%2Fproj/hooks?per_page=100");
    const verify: { url: string; init: RequestInit }[] = [];
    expect(
      await new GitLabApi(
        "https://g.example",
        TOKEN,
        fakeFetch(403, { message: "403 Forbidden" }, verify),
      ).verifyRunnerToken("glrt-bad"),
    ).toBe(false);
    expect(verify[0]!.init.headers).not.toHaveProperty("private-token");
  });

  it("turns a non-2xx answer into a GitLabHttpError with the status, and a network failure into exit code 3", async () => {
    const denied = new GitLabApi("https://g.example", TOKEN, fakeFetch(401, { message: "401 Unauthorized" }));
    const err = await denied.currentUser().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitLabHttpError);
    expect((err as GitLabHttpError).status).toBe(401);
    expect((err as Error).message).not.toContain(TOKEN);
    const offline = new GitLabApi("https://g.example", TOKEN, (async () => {
      throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
    }) as unknown as typeof fetch);
    await expect(offline.currentUser()).rejects.toMatchObject({
      exitCode: EXIT.unreachable,
      message: expect.stringContaining("ECONNREFUSED"),
    });
  });
});

describe("exit codes", () => {
  it("tell an unreachable AWS from a refusal", () => {
    expect(isUnreachableAwsError(Object.assign(new Error("x"), { name: "CredentialsProviderError" }))).toBe(
      true,
    );
    expect(
      isUnreachableAwsError(
        Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
      ),
    ).toBe(true);
    const denied = Object.assign(new Error("not allowed"), {
      name: "AccessDeniedException",
      $metadata: { httpStatusCode: 403 },
    });
    expect(isUnreachableAwsError(denied)).toBe(false);
    expect(awsError("reading x", denied).exitCode).toBe(EXIT.checkFailed);
  });

  it("doctor: 0 when all pass, 3 when only unreachable checks failed, 1 otherwise", () => {
    const pass = { check: "a", ok: true, detail: "fine" };
    const down = { check: "b", ok: false, detail: "down", unreachable: true };
    const broken = { check: "c", ok: false, detail: "broken", fix: "do this" };
    expect(doctorExitCode([pass])).toBe(EXIT.ok);
    expect(doctorExitCode([pass, down])).toBe(EXIT.unreachable);
    expect(doctorExitCode([down, broken])).toBe(EXIT.checkFailed);
    expect(formatDoctor([pass, broken])).toBe(
      "ok    a: fine\nFAIL  c: broken\n      fix: do this\n\n1 of 2 checks failed\n",
    );
  });

  it("usage errors answer 2 with the usage text; --help answers 0", async () => {
    let err = "";
    let out = "";
    const io = {
      env: {},
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
    };
    expect(await runCli(["nope"], io)).toBe(EXIT.usage);
    expect(err).toContain("unknown command 'nope'");
    expect(await runCli(["status", "-c", "/nonexistent.json"], io)).toBe(EXIT.usage);
    expect(err).toContain("cannot read configuration file /nonexistent.json");
    expect(err).toContain("pass --config <file>, or set SGR_CONFIG_FILE=<file>");
    expect(err).not.toContain("-c config=");
    expect(await runCli(["--help"], io)).toBe(EXIT.ok);
    expect(out).toBe(USAGE);
  });

  it("prints each command's own help for `sgr <command> --help` and `sgr help <command>`", async () => {
    for (const command of ["setup", "status", "doctor"] as const) {
      for (const argv of [
        [command, "--help"],
        [command, "-h"],
        ["help", command],
      ]) {
        let out = "";
        const io = { env: {}, stdout: { write: (t: string) => (out += t) }, stderr: { write: () => 0 } };
        expect(await runCli(argv, io), argv.join(" ")).toBe(EXIT.ok);
        expect(out, argv.join(" ")).toBe(COMMAND_HELP[command]);
        expect(out).toMatch(new RegExp(`^Usage: sgr ${command}`));
      }
    }
    expect(COMMAND_HELP.setup).toContain("--rotate-runner-token");
    expect(COMMAND_HELP.status).not.toContain("--rotate-runner-token");
  });

  describe("without a region", () => {
    const config = resolve(import.meta.dirname, "../../config/example.json");
    // The SDK would also find a region in AWS_REGION or the profile of this machine: neither here.
    beforeEach(() => {
      vi.stubEnv("AWS_REGION", undefined);
      vi.stubEnv("AWS_PROFILE", undefined);
      vi.stubEnv("AWS_CONFIG_FILE", "/nonexistent/aws-config");
      vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials");
    });
    afterEach(() => vi.unstubAllEnvs());

    it("says no region is set and how to set one, with the configuration exit code", async () => {
      let err = "";
      const io = { env: {}, stdout: { write: () => 0 }, stderr: { write: (t: string) => (err += t) } };
      for (const command of ["status", "doctor"]) {
        err = "";
        expect(await runCli([command, "-c", config], io)).toBe(EXIT.usage);
        expect(err).toContain(`sgr ${command}: no AWS region is set`);
        expect(err).toMatch(/fix: pass --region <region>, or export AWS_REGION=<region>/);
        expect(err).not.toContain("reading stack");
      }
    });

    it("uses the region it shows: --region, else AWS_REGION, else AWS_DEFAULT_REGION", async () => {
      const cases: [string[], NodeJS.ProcessEnv, string][] = [
        [["--region", "eu-north-1"], { AWS_REGION: "eu-west-1" }, "eu-north-1"],
        [[], { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "eu-west-2" }, "eu-west-1"],
        [[], { AWS_DEFAULT_REGION: "eu-west-2" }, "eu-west-2"],
      ];
      for (const [flags, env, expected] of cases) {
        let err = "";
        const given: string[] = [];
        const io = {
          env,
          stdout: { write: () => 0 },
          stderr: { write: (t: string) => (err += t) },
          aws: (region: string) => {
            given.push(region);
            throw new CliError("stop here", EXIT.checkFailed);
          },
        };
        await runCli(["status", "-c", config, ...flags], io);
        expect(given).toEqual([expected]);
        expect(createAwsClients(expected).region).toBe(expected);
        expect(await createAwsClients(expected).cfn.config.region()).toBe(expected);
        expect(err).toContain("stop here");
      }
    });
  });
});

describe("waitForDelivery", () => {
  it("polls until the check passes, and gives up after the timeout", async () => {
    let calls = 0;
    const sleeps: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
    };
    expect(await waitForDelivery(async () => ++calls >= 3, 60_000, sleep, 10)).toBe(true);
    expect(calls).toBe(3);
    expect(sleeps).toEqual([10, 10]);
    expect(await waitForDelivery(async () => false, 0, sleep)).toBe(false);
  });
});
