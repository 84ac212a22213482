import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";

describe("moto endpoint", () => {
  it("answers real SDK calls over HTTP", async () => {
    expect(process.env.AWS_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ssm = new SSMClient({});
    const name = `/smoke/${Date.now()}`;
    await ssm.send(new PutParameterCommand({ Name: name, Value: "v", Type: "SecureString" }));
    const got = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    expect(got.Parameter?.Value).toBe("v");
  });
});
