import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventBridgePublisher } from "./adapters.js";
import { MissingCredentialsError } from "./credentials.js";
import {
  AwsJsonClient,
  AwsServiceError,
  EVENTBRIDGE_SERVICE,
  resolveEndpoint,
  SSM_SERVICE,
} from "./json-client.js";

const { createServer } = process.getBuiltinModule("node:http");

interface Seen {
  headers: IncomingMessage["headers"];
  body: string;
}
type Reply = (seen: Seen, res: ServerResponse) => void;

let replies: Reply[] = [];
const seen: Seen[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const request = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
    seen.push(request);
    const reply = replies.shift() ?? ((_s: Seen, r: ServerResponse) => r.writeHead(500).end());
    reply(request, res);
  });
});
let endpoint = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  endpoint = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Reply =>
  (_s, res) =>
    res
      .writeHead(status, { "content-type": "application/x-amz-json-1.1", ...headers })
      .end(JSON.stringify(body));

function client(options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {
  return new AwsJsonClient(SSM_SERVICE, {
    endpoint,
    region: "eu-west-1",
    env: options.env ?? {
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_SESSION_TOKEN: "token",
    },
    timeoutMs: options.timeoutMs ?? 1000,
    sleep: async () => {},
  });
}

describe("lean AWS JSON client", () => {
  it("posts signed JSON with the target header and parses the answer", async () => {
    seen.length = 0;
    replies = [json(200, { Parameters: [{ Name: "/a", Value: "v" }], InvalidParameters: [] })];
    const out = await client().call<{ Parameters: { Value: string }[] }>("GetParameters", { Names: ["/a"] });
    expect(out.Parameters[0]!.Value).toBe("v");
    const request = seen[0]!;
    expect(JSON.parse(request.body)).toEqual({ Names: ["/a"] });
    expect(request.headers["x-amz-target"]).toBe("AmazonSSM.GetParameters");
    expect(request.headers["content-type"]).toBe("application/x-amz-json-1.1");
    expect(request.headers["x-amz-security-token"]).toBe("token");
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-west-1\/ssm\/aws4_request, /,
    );
  });

  it("retries throttling and 5xx, then succeeds", async () => {
    seen.length = 0;
    replies = [
      json(400, { __type: "com.amazonaws.ssm#ThrottlingException", message: "Rate exceeded" }),
      json(503, { message: "unavailable" }),
      json(200, {}),
    ];
    await expect(client().call("GetParameters", {})).resolves.toEqual({});
    expect(seen).toHaveLength(3);
  });

  it("does not retry a client error and names it by its code", async () => {
    seen.length = 0;
    replies = [
      json(400, {
        __type: "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        message: "The conditional request failed",
      }),
    ];
    const error = await client()
      .call("PutItem", {})
      .catch((e: unknown) => e as AwsServiceError);
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error).toMatchObject({
      name: "ConditionalCheckFailedException",
      statusCode: 400,
      retryable: false,
    });
    expect(seen).toHaveLength(1);
  });

  it("reads the error type from x-amzn-ErrorType when the body has none", async () => {
    replies = [json(400, {}, { "x-amzn-errortype": "ValidationException:http://internal.amazon.com/" })];
    await expect(client().call("GetParameters", {})).rejects.toMatchObject({ name: "ValidationException" });
  });

  it("gives up after three attempts when the service keeps timing out", async () => {
    seen.length = 0;
    const hang: Reply = () => {}; // never answers
    replies = [hang, hang, hang];
    await expect(client({ timeoutMs: 50 }).call("GetParameters", {})).rejects.toMatchObject({
      name: "TimeoutError",
      retryable: true,
    });
    expect(seen).toHaveLength(3);
  });

  it("fails clearly, without calling, when no credentials are in the environment", async () => {
    seen.length = 0;
    await expect(client({ env: {} }).call("GetParameters", {})).rejects.toBeInstanceOf(
      MissingCredentialsError,
    );
    expect(seen).toHaveLength(0);
  });

  it("sends PutEvents times as epoch seconds", async () => {
    seen.length = 0;
    replies = [json(200, { FailedEntryCount: 0, Entries: [{ EventId: "1" }] })];
    const publisher = eventBridgePublisher(
      new AwsJsonClient(EVENTBRIDGE_SERVICE, {
        endpoint,
        env: { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" },
      }),
    );
    await publisher.putEvents({
      Entries: [{ Source: "s", DetailType: "d", Detail: "{}", Time: new Date(1_800_000_000_500) }],
    });
    expect(JSON.parse(seen[0]!.body)).toEqual({
      Entries: [{ Source: "s", DetailType: "d", Detail: "{}", Time: 1_800_000_000.5 }],
    });
    expect(seen[0]!.headers["x-amz-target"]).toBe("AWSEvents.PutEvents");
  });
});

describe("endpoint resolution", () => {
  it("follows the SDK's environment variables, then the regional endpoint", () => {
    expect(resolveEndpoint(SSM_SERVICE, "eu-west-1", {}).href).toBe("https://ssm.eu-west-1.amazonaws.com/");
    expect(resolveEndpoint(SSM_SERVICE, "cn-north-1", {}).href).toBe(
      "https://ssm.cn-north-1.amazonaws.com.cn/",
    );
    expect(
      resolveEndpoint(SSM_SERVICE, "eu-west-1", { AWS_ENDPOINT_URL: "http://127.0.0.1:5000" }).href,
    ).toBe("http://127.0.0.1:5000/");
    expect(
      resolveEndpoint(SSM_SERVICE, "eu-west-1", {
        AWS_ENDPOINT_URL: "http://a:1",
        AWS_ENDPOINT_URL_SSM: "http://b:2",
      }).href,
    ).toBe("http://b:2/");
    expect(
      resolveEndpoint(SSM_SERVICE, "eu-west-1", {
        AWS_ENDPOINT_URL: "http://a:1",
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true",
      }).href,
    ).toBe("https://ssm.eu-west-1.amazonaws.com/");
  });
});
