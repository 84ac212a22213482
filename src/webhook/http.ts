/** Lambda Function URL (API Gateway v2 payload) ↔ the webhook's request/response shapes. */
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from "aws-lambda";
import type { WebhookRequest, WebhookResponse } from "./delivery.js";

/**
 * Function URLs already lower-case header names (and comma-join repeats); hand-made events and the local invoke
 * path may not. Names that differ only in case are one header: identical values are kept once, differing ones are
 * listed as conflicts so the delivery is refused — otherwise whichever came last (a wrong token or the right one)
 * would decide.
 */
function lowerCaseHeaders(headers: LambdaFunctionURLEvent["headers"] | undefined): {
  headers: Record<string, string | undefined>;
  conflicts: string[];
} {
  const result: Record<string, string | undefined> = {};
  const conflicts = new Set<string>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    const lower = name.toLowerCase();
    if (Object.hasOwn(result, lower) && result[lower] !== value) conflicts.add(lower);
    result[lower] = value;
  }
  return { headers: result, conflicts: [...conflicts].sort() };
}

export function fromFunctionUrlEvent(event: LambdaFunctionURLEvent): WebhookRequest {
  const { headers, conflicts } = lowerCaseHeaders(event.headers);
  return {
    method: event.requestContext?.http?.method ?? "",
    headers,
    ...(conflicts.length > 0 ? { conflictingHeaders: conflicts } : {}),
    body: event.body,
    isBase64Encoded: event.isBase64Encoded === true,
  };
}

export function toFunctionUrlResult(response: WebhookResponse): APIGatewayProxyStructuredResultV2 {
  return { statusCode: response.statusCode, headers: response.headers, body: response.body };
}
