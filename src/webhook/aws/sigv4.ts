/**
 * AWS Signature Version 4 for the lean JSON-protocol client (POST of a JSON body to `/`). Written
 * against the published algorithm and checked in tests against the AWS test suite vector and the
 * SDK's own signer (@smithy/signature-v4).
 */
// process.getBuiltinModule, not an ESM import: the ESM facade of a builtin evaluates every lazy export
// (node:http's pulls in undici, ~50 ms of cold start in the webhook bundle).
const { createHash, createHmac } = process.getBuiltinModule("node:crypto");

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** When temporary credentials stop working (refresh a little before). */
  expiration?: Date | undefined;
}

export interface RequestToSign {
  method: string;
  host: string;
  path: string;
  /** Already canonical (sorted, encoded) query string, usually empty. */
  query?: string;
  /** Headers to sign, besides host and x-amz-date which are added. */
  headers: Record<string, string>;
  body: string | Buffer;
  service: string;
  region: string;
  credentials: AwsCredentials;
  now: Date;
}

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

/** `20150830T123600Z` */
export function amzDate(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** Returns every header the request must carry: the given ones plus host, x-amz-date, token and Authorization. */
export function signRequest(request: RequestToSign): Record<string, string> {
  const date = amzDate(request.now);
  const day = date.slice(0, 8);
  const headers: Record<string, string> = { ...request.headers, host: request.host, "x-amz-date": date };
  if (request.credentials.sessionToken) headers["x-amz-security-token"] = request.credentials.sessionToken;

  const canonical = Object.entries(headers)
    .map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, " ")] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = canonical.map(([name]) => name).join(";");
  const canonicalRequest = [
    request.method,
    request.path,
    request.query ?? "",
    ...canonical.map(([name, value]) => `${name}:${value}`),
    "",
    signedHeaders,
    sha256Hex(request.body),
  ].join("\n");
  const scope = `${day}/${request.region}/${request.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", date, scope, sha256Hex(canonicalRequest)].join("\n");
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${request.credentials.secretAccessKey}`, day), request.region), request.service),
    "aws4_request",
  );
  const signature = createHmac("sha256", signingKey).update(stringToSign, "utf8").digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${request.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
