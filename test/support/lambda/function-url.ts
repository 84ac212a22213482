/**
 * A Lambda Function URL in front of a local Lambda: an HTTP listener on a loopback address that turns each request
 * into the Function URL event (payload format 2.0) and the function's answer back into the HTTP response, as AWS
 * documents it: header names lower-cased, repeated headers joined with commas, cookies apart, a body that is not
 * text base64-encoded, a plain object answer taken as a 200 JSON body.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { LocalLambda } from "./rie.js";

const TEXT_TYPES = /^(text\/|application\/(json|xml|x-www-form-urlencoded|javascript))/;

export interface FunctionUrl {
  url: string;
  close(): Promise<void>;
}

export function eventFromRequest(req: IncomingMessage, body: Buffer, host: string): Record<string, unknown> {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    if (name === "cookie") cookies.push(...value.split(/;\s*/));
    else headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const url = new URL(req.url ?? "/", `http://${host}`);
  const isText = TEXT_TYPES.test(headers["content-type"] ?? "text/plain");
  const now = new Date();
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies.length ? { cookies } : {}),
    headers,
    ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
    requestContext: {
      accountId: "anonymous",
      apiId: "local",
      domainName: host,
      domainPrefix: "local",
      http: {
        method: req.method ?? "GET",
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: isText ? body.toString("utf8") : body.toString("base64") } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

interface UrlAnswer {
  statusCode?: number;
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
  cookies?: string[];
}

function isUrlAnswer(payload: unknown): payload is UrlAnswer {
  return typeof payload === "object" && payload !== null && "statusCode" in payload;
}

/** Serves `lambda` at http://<address>:<port>/ (address in 127.0.0.0/8; port 0 picks one). */
export async function startFunctionUrl(
  lambda: LocalLambda,
  address = "127.0.0.1",
  port = 0,
): Promise<FunctionUrl> {
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const host = req.headers.host ?? address;
    const result = await lambda
      .invoke(eventFromRequest(req, Buffer.concat(chunks), host))
      .catch((err: Error) => ({
        payload: { errorMessage: err.message },
        functionError: "Unhandled",
      }));
    if (result.functionError) {
      // A function error is a 502 to the caller, as a Function URL answers it.
      res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ Message: null }));
      return;
    }
    const answer: UrlAnswer = isUrlAnswer(result.payload)
      ? result.payload
      : {
          statusCode: 200,
          headers: { "content-type": "application/json" },
          body: JSON.stringify(result.payload),
        };
    const headers: Record<string, string | string[]> = { ...answer.headers };
    if (answer.cookies?.length) headers["set-cookie"] = answer.cookies;
    const body = answer.body ?? "";
    res.writeHead(answer.statusCode ?? 200, headers);
    res.end(answer.isBase64Encoded ? Buffer.from(body, "base64") : body);
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  const bound = server.address();
  const boundPort = typeof bound === "object" && bound ? bound.port : port;
  return {
    url: `http://${address}:${boundPort}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
