import type { GetParametersRequest, GetParametersResult } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import {
  createWebhookSecretProvider,
  SecretsUnavailableError,
  type SsmParameterReader,
} from "./webhook-secrets.js";

class FakeSsm implements SsmParameterReader {
  readonly values = new Map<string, string>();
  calls: GetParametersRequest[] = [];
  failWith: Error | undefined;
  async getParameters(input: GetParametersRequest): Promise<GetParametersResult> {
    this.calls.push(input);
    if (this.failWith) throw this.failWith;
    const names = input.Names ?? [];
    return {
      Parameters: names
        .filter((n) => this.values.has(n))
        .map((n) => ({ Name: n, Value: this.values.get(n)! })),
      InvalidParameters: names.filter((n) => !this.values.has(n)),
    };
  }
}

function setup(ttlSeconds = 60) {
  const ssm = new FakeSsm();
  ssm.values.set("/sgr/token", "token-v1\n");
  ssm.values.set("/sgr/signing", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  let clock = 0;
  const stale: unknown[] = [];
  const provider = createWebhookSecretProvider({
    ssm,
    secretTokenParameter: "/sgr/token",
    signingTokenParameter: "/sgr/signing",
    ttlSeconds,
    now: () => clock,
    onStaleServed: (error) => stale.push(error),
  });
  return { ssm, provider, stale, advance: (ms: number) => (clock += ms) };
}

describe("webhook secret provider", () => {
  it("reads both SecureStrings in one decrypted call and caches them for the TTL", async () => {
    const { ssm, provider, advance } = setup(60);
    const first = await provider.get();
    expect(first.secretToken).toBe("token-v1");
    expect(first.signingKey?.length).toBe(32);
    expect(ssm.calls).toEqual([{ Names: ["/sgr/token", "/sgr/signing"], WithDecryption: true }]);
    advance(59_999);
    await provider.get();
    expect(ssm.calls).toHaveLength(1);
    ssm.values.set("/sgr/token", "token-v2");
    advance(1);
    expect((await provider.get()).secretToken).toBe("token-v2");
    expect(ssm.calls).toHaveLength(2);
  });

  it("shares one SSM read between concurrent requests", async () => {
    const { ssm, provider } = setup();
    await Promise.all([provider.get(), provider.get(), provider.get()]);
    expect(ssm.calls).toHaveLength(1);
  });

  it("serves the stale copy when a refresh fails, and fails without any copy", async () => {
    const { ssm, provider, stale, advance } = setup(1);
    await provider.get();
    ssm.failWith = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    advance(5_000);
    expect((await provider.get()).secretToken).toBe("token-v1");
    expect(stale).toHaveLength(1);

    const cold = setup();
    cold.ssm.failWith = Object.assign(new Error("boom"), { name: "InternalServerError" });
    await expect(cold.provider.get()).rejects.toThrow(SecretsUnavailableError);
  });

  it("treats an absent signing parameter as not configured, and no secret at all as unavailable", async () => {
    const { ssm, provider } = setup();
    ssm.values.delete("/sgr/signing");
    expect(await provider.get()).toEqual({ secretToken: "token-v1", signingKey: null });

    const none = setup();
    none.ssm.values.clear();
    await expect(none.provider.get()).rejects.toThrow(/neither \/sgr\/token nor \/sgr\/signing/);
  });

  it("reports a malformed signing token without revealing it", async () => {
    const { ssm, provider } = setup();
    ssm.values.set("/sgr/signing", "whsec_%%%secret%%%");
    const error = await provider.get().catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(SecretsUnavailableError);
    expect((error as Error).message).toMatch(/not whsec_ followed by base64/);
    expect((error as Error).message).not.toContain("secret%%%");
  });
});
