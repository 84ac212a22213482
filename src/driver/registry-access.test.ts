import { describe, expect, it } from "vitest";
import { registryAccessWarnings } from "./registry-access.js";

const jobToken = [{ url: "registry.gitlab.example.com", username: "gitlab-ci-token", password: "job-token" }];
const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:deploy-token-AbCdEf";

describe("registry access", () => {
  it("warns for an image on the job's GitLab registry when no secret is mapped to its host", () => {
    const containers = [
      { name: "build", image: "registry.gitlab.example.com/group/app:abc123" },
      { name: "svc-0", image: "postgres:17" },
      { name: "svc-1", image: "REGISTRY.gitlab.example.com/group/tools/db:1" },
    ];
    const warnings = registryAccessWarnings(containers, jobToken, {});
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(
      /^image registry\.gitlab\.example\.com\/group\/app:abc123 is on the GitLab container registry registry\.gitlab\.example\.com.*Map registry\.gitlab\.example\.com in jobs\.registryCredentials.*read_registry/,
    );
    expect(warnings.join("\n")).not.toContain("job-token");
  });

  it("stays quiet when the host is mapped, or the image is elsewhere", () => {
    const containers = [{ name: "build", image: "registry.gitlab.example.com/group/app:1" }];
    expect(registryAccessWarnings(containers, jobToken, { "registry.gitlab.example.com": arn })).toEqual([]);
    const withScheme = [{ url: "https://registry.gitlab.example.com/", username: "u", password: "p" }];
    expect(registryAccessWarnings(containers, withScheme, undefined)).toHaveLength(1);
    expect(registryAccessWarnings([{ name: "build", image: "alpine:3.22" }], jobToken, undefined)).toEqual(
      [],
    );
  });
});
