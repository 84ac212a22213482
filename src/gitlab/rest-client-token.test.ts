import type { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { restClientFromTokenSource, ssmApiTokenSource } from "./rest-client-token.js";

function fakeSsm(values: Array<string | Error>) {
  const calls: unknown[] = [];
  const ssm = {
    send: async (command: GetParameterCommand) => {
      calls.push(command.input);
      const next = values.shift();
      if (next instanceof Error) throw next;
      return { Parameter: { Value: next } };
    },
  } as unknown as Pick<SSMClient, "send">;
  return { ssm, calls };
}

describe("GitLab API token from SSM", () => {
  it("is undefined without a parameter, and then no client is made", async () => {
    const { ssm, calls } = fakeSsm([]);
    const source = ssmApiTokenSource(ssm, undefined);
    expect(await source.get()).toBeUndefined();
    expect(await restClientFromTokenSource("https://gitlab.example.com", source)).toBeUndefined();
    expect(calls).toHaveLength(0);
  });

  it("reads the SecureString decrypted, once for concurrent callers, again after the TTL", async () => {
    let now = 0;
    const { ssm, calls } = fakeSsm(["glpat-1", "glpat-2"]);
    const source = ssmApiTokenSource(ssm, "/sgr/api-token", 60_000, () => now);
    expect(await Promise.all([source.get(), source.get(), source.get()])).toEqual([
      "glpat-1",
      "glpat-1",
      "glpat-1",
    ]);
    expect(calls).toEqual([{ Name: "/sgr/api-token", WithDecryption: true }]);
    now = 61_000;
    expect(await source.get()).toBe("glpat-2");
  });

  it("does not cache a failure", async () => {
    const { ssm } = fakeSsm([new Error("AccessDenied"), "glpat-3"]);
    const source = ssmApiTokenSource(ssm, "/sgr/api-token");
    await expect(source.get()).rejects.toThrow("AccessDenied");
    expect(await source.get()).toBe("glpat-3");
  });
});
