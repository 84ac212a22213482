/**
 * A lean client for AWS services that speak the JSON protocols (awsJson1_0 / awsJson1_1): SSM,
 * DynamoDB, EventBridge, SQS. The webhook is on GitLab's 10 s clock and pays its cold start on every
 * scale-out; the SDK's generic client stack (middleware, endpoint rule engine, credential chain) costs
 * ~110 ms of cold import for the three clients it needs, this costs a few. Requests and responses are
 * the wire JSON, which for these operations is the SDK's input/output shape (timestamps excepted:
 * epoch seconds on the wire), so callers use the SDK's types.
 *
 * Behaviour kept from the SDK: SigV4, AWS_ENDPOINT_URL[_<SERVICE>] endpoints, standard retries
 * (throttling, 5xx, network errors and timeouts; 3 attempts, full-jitter backoff), per-attempt timeout.
 */
import {
  type CredentialSource,
  environmentCredentialSource,
  MissingCredentialsError,
} from "./credentials.js";
import { signRequest } from "./sigv4.js";

// process.getBuiltinModule, not an ESM import: the ESM facade of node:http evaluates its lazy exports,
// which loads undici (~50 ms of cold start) that this client never uses.
const { Agent: HttpAgent, request: httpRequest } = process.getBuiltinModule("node:http");
const { Agent: HttpsAgent, request: httpsRequest } = process.getBuiltinModule("node:https");

export interface AwsJsonService {
  /** SigV4 signing name. */
  signingName: string;
  /** First label of the regional endpoint host. */
  endpointPrefix: string;
  /** Suffix of the service-specific endpoint variable, AWS_ENDPOINT_URL_<id> (SDK service id). */
  envId: string;
  /** X-Amz-Target prefix. */
  targetPrefix: string;
  jsonVersion: "1.0" | "1.1";
}

export const SSM_SERVICE: AwsJsonService = {
  signingName: "ssm",
  endpointPrefix: "ssm",
  envId: "SSM",
  targetPrefix: "AmazonSSM",
  jsonVersion: "1.1",
};
export const DYNAMODB_SERVICE: AwsJsonService = {
  signingName: "dynamodb",
  endpointPrefix: "dynamodb",
  envId: "DYNAMODB",
  targetPrefix: "DynamoDB_20120810",
  jsonVersion: "1.0",
};
export const EVENTBRIDGE_SERVICE: AwsJsonService = {
  signingName: "events",
  endpointPrefix: "events",
  envId: "EVENTBRIDGE",
  targetPrefix: "AWSEvents",
  jsonVersion: "1.1",
};
export const SQS_SERVICE: AwsJsonService = {
  signingName: "sqs",
  endpointPrefix: "sqs",
  envId: "SQS",
  targetPrefix: "AmazonSQS",
  jsonVersion: "1.0",
};

/** An error answered by the service (`name` is its error code) or a transport failure. */
export class AwsServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = code;
  }
}

const THROTTLING_CODES = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "LimitExceededException",
  "SlowDown",
  "RequestTimeout",
  "RequestTimeoutException",
]);

export interface AwsJsonClientOptions {
  region?: string;
  endpoint?: string;
  credentials?: CredentialSource;
  /** Per-attempt limit, connection included. */
  timeoutMs?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  env?: NodeJS.ProcessEnv;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** The endpoint the SDK would use: AWS_ENDPOINT_URL_<ID>, AWS_ENDPOINT_URL, else the regional one. */
export function resolveEndpoint(service: AwsJsonService, region: string, env: NodeJS.ProcessEnv): URL {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS !== "true") {
    const configured = env[`AWS_ENDPOINT_URL_${service.envId}`] || env.AWS_ENDPOINT_URL;
    if (configured) return new URL(configured);
  }
  const suffix = region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return new URL(`https://${service.endpointPrefix}.${region}.${suffix}`);
}

interface RawResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

function send(
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<RawResponse> {
  const secure = url.protocol === "https:";
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port || undefined,
        path: url.pathname || "/",
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        agent: secure ? agents.https : agents.http,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            statusCode: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    const timer = setTimeout(
      () =>
        req.destroy(new AwsServiceError("TimeoutError", `no answer within ${timeoutMs} ms`, undefined, true)),
      timeoutMs,
    );
    req.on("close", () => clearTimeout(timer));
    req.on("error", reject);
    req.end(body);
  });
}

function errorFrom(response: RawResponse): AwsServiceError {
  let parsed: { __type?: string; message?: string; Message?: string } = {};
  try {
    parsed = JSON.parse(response.body) as typeof parsed;
  } catch {
    // not JSON: keep the status only
  }
  const header = response.headers["x-amzn-errortype"];
  const rawType =
    parsed.__type ?? (typeof header === "string" ? header : undefined) ?? `Http${response.statusCode}`;
  // "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" or "Code:http://…" → the code.
  const code = rawType.split("#").pop()!.split(":")[0]!;
  const message = parsed.message ?? parsed.Message ?? `HTTP ${response.statusCode}`;
  const retryable = response.statusCode >= 500 || response.statusCode === 429 || THROTTLING_CODES.has(code);
  return new AwsServiceError(code, message, response.statusCode, retryable);
}

export class AwsJsonClient {
  private readonly region: string;
  private readonly endpoint: URL;
  private readonly credentials: CredentialSource;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(
    private readonly service: AwsJsonService,
    options: AwsJsonClientOptions = {},
  ) {
    const env = options.env ?? process.env;
    this.region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
    this.endpoint = options.endpoint ? new URL(options.endpoint) : resolveEndpoint(service, this.region, env);
    this.credentials = options.credentials ?? environmentCredentialSource(env);
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  /** Calls `operation` with `input` (wire JSON) and returns the parsed answer; throws AwsServiceError. */
  async call<Output>(operation: string, input: unknown): Promise<Output> {
    const body = JSON.stringify(input);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.attempt<Output>(operation, body);
      } catch (error) {
        if (error instanceof MissingCredentialsError) throw error;
        // Service errors say whether they are worth retrying; transport errors (reset, refused, DNS) are.
        const failure =
          error instanceof AwsServiceError
            ? error
            : new AwsServiceError(
                (error as NodeJS.ErrnoException).code ?? "NetworkError",
                (error as Error).message,
                undefined,
                true,
              );
        if (!failure.retryable || attempt >= this.maxAttempts) throw failure;
        await this.sleep(Math.round(this.random() * Math.min(2000, this.baseDelayMs * 2 ** attempt)));
      }
    }
  }

  private async attempt<Output>(operation: string, body: string): Promise<Output> {
    const credentials = await this.credentials();
    const headers = signRequest({
      method: "POST",
      host: this.endpoint.host,
      path: this.endpoint.pathname || "/",
      headers: {
        "content-type": `application/x-amz-json-${this.service.jsonVersion}`,
        "x-amz-target": `${this.service.targetPrefix}.${operation}`,
      },
      body,
      service: this.service.signingName,
      region: this.region,
      credentials,
      now: new Date(),
    });
    const response = await send(this.endpoint, headers, body, this.timeoutMs);
    if (response.statusCode !== 200) throw errorFrom(response);
    return (response.body ? JSON.parse(response.body) : {}) as Output;
  }
}
