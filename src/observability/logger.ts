/**
 * Structured JSON logs (Powertools). Secrets are never passed to a logger: tokens and signatures stay
 * inside the verification code, and tests capture every log line to prove it.
 */
import { Logger } from "@aws-lambda-powertools/logger";

export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logLevel: (process.env.LOG_LEVEL as "INFO" | undefined) ?? "INFO" });
}
