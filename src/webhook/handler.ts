/**
 * Webhook Lambda (Function URL): GitLab Job/Pipeline Hooks → verified, normalised job events on the bus.
 * Thin: wiring at cold start, then request → handleWebhookDelivery → response. A configuration error
 * is logged once at cold start and every request answers 500 (the deployment, not GitLab, is at fault).
 */
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from "aws-lambda";
import { createLogger } from "../observability/logger.js";
import { createWebhookHandler } from "./app.js";
import { powertoolsDeliveryMetrics } from "./metrics.js";
import { createWebhookDependencies } from "./runtime.js";

const SERVICE = "webhook";
const logger = createLogger(SERVICE);
const { metrics, flush } = powertoolsDeliveryMetrics(SERVICE);

export const handler: (event: LambdaFunctionURLEvent) => Promise<APIGatewayProxyStructuredResultV2> =
  createWebhookHandler((log) => createWebhookDependencies(process.env, log, {}, metrics), logger, flush);
