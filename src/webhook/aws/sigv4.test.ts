import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { amzDate, signRequest } from "./sigv4.js";

const { createHash, createHmac } = process.getBuiltinModule("node:crypto");

/** The SHA-256 implementation the SDK's signer expects (its own lives in @smithy/hash-node). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData) =>
  typeof data === "string"
    ? Buffer.from(data, "utf8")
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret ? createHmac("sha256", bytes(secret)) : createHash("sha256");
  }
  update(data: SourceData) {
    this.hash.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

describe("SigV4", () => {
  it("reproduces the AWS SigV4 test suite's get-vanilla signature", () => {
    const headers = signRequest({
      method: "GET",
      host: "example.amazonaws.com",
      path: "/",
      headers: {},
      body: "",
      service: "service",
      region: "us-east-1",
      credentials: {
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      },
      now: new Date("2015-08-30T12:36:00Z"),
    });
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
  });

  it("signs a JSON-protocol POST exactly like the SDK's signer, session token included", async () => {
    const now = new Date("2026-11-27T10:00:30Z");
    const credentials = {
      accessKeyId: "AKIDTEST",
      secretAccessKey: "secret/key+value",
      sessionToken: "session-token",
    };
    const body = JSON.stringify({ Names: ["/sgr/webhook-secret"], WithDecryption: true });
    const ours = signRequest({
      method: "POST",
      host: "ssm.eu-west-1.amazonaws.com",
      path: "/",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "AmazonSSM.GetParameters" },
      body,
      service: "ssm",
      region: "eu-west-1",
      credentials,
      now,
    });
    const sdk = await new SignatureV4({
      service: "ssm",
      region: "eu-west-1",
      credentials,
      sha256: NodeSha256,
      applyChecksum: false,
    }).sign(
      {
        method: "POST",
        protocol: "https:",
        hostname: "ssm.eu-west-1.amazonaws.com",
        path: "/",
        headers: {
          host: "ssm.eu-west-1.amazonaws.com",
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "AmazonSSM.GetParameters",
        },
        body,
        query: {},
      },
      { signingDate: now },
    );
    expect(ours.authorization).toBe(sdk.headers.authorization);
    expect(ours["x-amz-security-token"]).toBe("session-token");
    expect(ours["x-amz-date"]).toBe(amzDate(now));
  });
});
