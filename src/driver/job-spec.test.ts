import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jobSpecFrom, readJobSpec } from "./job-spec.js";

const env = { CUSTOM_ENV_CI_JOB_ID: "123", CUSTOM_ENV_CI_PROJECT_ID: "9" };
const defaultImage = "alpine:3.22";

describe("job spec", () => {
  it("reads image entrypoint, platform and user, services and registry credentials", () => {
    const spec = jobSpecFrom(
      {
        id: 123,
        image: {
          name: "node:24",
          entrypoint: ["/bin/sh", "-c"],
          executor_opts: { docker: { platform: "linux/arm64", user: "1000:1000" } },
        },
        services: [
          {
            name: "registry.example.com/team/postgres:16",
            alias: "db, pg",
            command: ["postgres", "-c", "fsync=off"],
            entrypoint: null,
            ports: [{ number: 5432, protocol: "tcp" }],
            variables: [{ key: "POSTGRES_PASSWORD", value: "x", public: true }],
          },
        ],
        credentials: [
          { type: "registry", url: "registry.example.com", username: "gitlab-ci-token", password: "secret" },
          { type: "other", url: "x", username: "u", password: "p" },
        ],
      },
      { ...env, CUSTOM_ENV_SGR_CPU: "2", CUSTOM_ENV_SGR_ARCH: "x86_64" },
      defaultImage,
    );
    expect(spec.jobId).toBe("123");
    expect(spec.projectId).toBe("9");
    expect(spec.build).toEqual({
      name: "build",
      image: "node:24",
      entrypoint: ["/bin/sh", "-c"],
      user: "1000:1000",
    });
    expect(spec.services).toEqual([
      {
        name: "svc-0",
        image: "registry.example.com/team/postgres:16",
        entrypoint: undefined,
        command: ["postgres", "-c", "fsync=off"],
        aliases: ["db", "pg", "registry.example.com__team__postgres", "registry.example.com-team-postgres"],
        environment: { POSTGRES_PASSWORD: "x" },
        ports: [5432],
      },
    ]);
    expect(spec.credentials).toEqual([
      { url: "registry.example.com", username: "gitlab-ci-token", password: "secret" },
    ]);
    expect(spec.sizeRequest).toMatchObject({ cpu: "2", architecture: "x86_64", platform: "linux/arm64" });
    expect(spec.warnings).toEqual([]);
  });

  it("expands service variables the way gitlab-runner does, against the job's public and internal variables", () => {
    const spec = jobSpecFrom(
      {
        id: 123,
        variables: [
          { key: "CI_PROJECT_NAME", value: "shop", public: true },
          { key: "CI_JOB_ID", value: "123", internal: true },
          { key: "DB_SECRET", value: "hidden", public: false, masked: true },
          { key: "CI_FILE", value: "content", public: true, file: true },
        ],
        services: [
          {
            name: "postgres:17",
            variables: [
              // biome-ignore lint/suspicious/noTemplateCurlyInString: a CI variable reference, not a JS template
              { key: "POSTGRES_DB", value: "${CI_PROJECT_NAME}_$CI_JOB_ID" },
              { key: "POSTGRES_USER", value: "u-$POSTGRES_DB" },
              { key: "SECRET", value: "$DB_SECRET|$CI_FILE|$UNKNOWN" },
              { key: "PRICE", value: "$$5" },
              { key: "RAW", value: "$CI_JOB_ID", raw: true },
            ],
          },
        ],
      },
      env,
      defaultImage,
    );
    expect(spec.services[0]!.environment).toEqual({
      POSTGRES_DB: "shop_123",
      // One pass over the unexpanded values, as gitlab-runner: a reference inside a reference stays as written.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CI variable reference, not a JS template
      POSTGRES_USER: "u-${CI_PROJECT_NAME}_$CI_JOB_ID",
      SECRET: "||",
      PRICE: "$5",
      RAW: "$CI_JOB_ID",
    });
  });

  it("uses CI_JOB_IMAGE, then the runner's default image", () => {
    expect(jobSpecFrom({}, { ...env, CUSTOM_ENV_CI_JOB_IMAGE: "busybox" }, defaultImage).build.image).toBe(
      "busybox",
    );
    expect(jobSpecFrom({ image: null }, env, defaultImage).build.image).toBe(defaultImage);
  });

  it("turns odd payload content into a warning, not a crash", () => {
    const spec = jobSpecFrom({ services: "not-a-list" }, env, defaultImage);
    expect(spec.services).toEqual([]);
    expect(spec.warnings[0]).toContain("unexpected fields (services)");
  });

  it("needs a job id", () => {
    expect(() => jobSpecFrom({}, {}, defaultImage)).toThrow(/job id/);
  });

  it("reads JOB_RESPONSE_FILE and says clearly when it cannot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "job-spec-"));
    writeFileSync(join(dir, "ok.json"), JSON.stringify({ image: { name: "ruby:3" } }));
    writeFileSync(join(dir, "bad.json"), "{");
    expect(
      (await readJobSpec({ ...env, JOB_RESPONSE_FILE: join(dir, "ok.json") }, defaultImage)).build.image,
    ).toBe("ruby:3");
    await expect(
      readJobSpec({ ...env, JOB_RESPONSE_FILE: join(dir, "bad.json") }, defaultImage),
    ).rejects.toThrow(/not valid JSON/);
    await expect(
      readJobSpec({ ...env, JOB_RESPONSE_FILE: join(dir, "missing") }, defaultImage),
    ).rejects.toThrow(/cannot read JOB_RESPONSE_FILE/);
    await expect(readJobSpec(env, defaultImage)).rejects.toThrow(/JOB_RESPONSE_FILE is not set/);
    rmSync(dir, { recursive: true, force: true });
  });
});
