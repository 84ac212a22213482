/** Lambda Function URL (API Gateway v2 payload) ↔ the webhook's request/response shapes. */
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from "aws-lambda";
import type { WebhookRequest, WebhookResponse } from "./delivery.js";

/** Function URLs already lower-case header names; this keeps tests and hand-made events honest. */
function lowerCaseHeaders(
  headers: LambdaFunctionURLEvent["headers"] | undefined,
): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) result[name.toLowerCase()] = value;
  return result;
}

export function fromFunctionUrlEvent(event: LambdaFunctionURLEvent): WebhookRequest {
  return {
    method: event.requestContext?.http?.method ?? "",
    headers: lowerCaseHeaders(event.headers),
    body: event.body,
    isBase64Encoded: event.isBase64Encoded === true,
  };
}

export function toFunctionUrlResult(response: WebhookResponse): APIGatewayProxyStructuredResultV2 {
  return { statusCode: response.statusCode, headers: response.headers, body: response.body };
}
