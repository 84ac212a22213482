/** The webhook handler around injected dependencies: what handler.ts exports and what tests and the benchmark drive. */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from "aws-lambda";
import { type DeliveryLog, handleWebhookDelivery, type WebhookDependencies } from "./delivery.js";
import { fromFunctionUrlEvent, toFunctionUrlResult } from "./http.js";

/** The Powertools logger, or any logger with the domain's call shape (tests, the local CLI). */
export type WebhookLogger = Pick<Logger, "info" | "warn" | "error"> | DeliveryLog;

/** Adapts the Powertools logger to the attribute-object calls the domain makes. */
export function deliveryLog(logger: WebhookLogger): DeliveryLog {
  return {
    info: (message, attributes) => (attributes ? logger.info(message, attributes) : logger.info(message)),
    warn: (message, attributes) => (attributes ? logger.warn(message, attributes) : logger.warn(message)),
    error: (message, attributes) => (attributes ? logger.error(message, attributes) : logger.error(message)),
  };
}

const SERVER_ERROR: APIGatewayProxyStructuredResultV2 = {
  statusCode: 500,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ message: "internal error" }),
};

/**
 * `build` runs once (cold start). If it throws (invalid configuration), the error is logged once and
 * every request gets 500. An unexpected error in a request is logged and answered 500, never rethrown
 * (a thrown error would make the Function URL answer 502 with no log of ours).
 */
export function createWebhookHandler(
  build: (log: DeliveryLog) => WebhookDependencies,
  logger: WebhookLogger,
  /** Called after every request: writes the metrics recorded during it (Powertools EMF). */
  flushMetrics: () => void = () => {},
): (event: LambdaFunctionURLEvent) => Promise<APIGatewayProxyStructuredResultV2> {
  const log = deliveryLog(logger);
  let deps: WebhookDependencies | undefined;
  try {
    deps = build(log);
  } catch (error) {
    log.error("webhook configuration invalid; answering 500 until redeployed", {
      error: (error as Error).message,
    });
  }
  return async (event) => {
    if (!deps) return SERVER_ERROR;
    try {
      return toFunctionUrlResult(await handleWebhookDelivery(fromFunctionUrlEvent(event), deps));
    } catch (error) {
      log.error("unexpected error handling a delivery", { error: (error as Error).name });
      return SERVER_ERROR;
    } finally {
      try {
        flushMetrics();
      } catch (error) {
        log.warn("metrics not written", { error: (error as Error).name });
      }
    }
  };
}
