/**
 * EventBridge rules delivering to local Lambdas. moto matches events against a rule's pattern for real when the
 * target is an SQS queue, so each rule of the deployed template that targeted a function gets a queue target in
 * moto, and a relay hands every message to the function with asynchronous invocation semantics: events are
 * invoked concurrently, a function error is retried up to the function's MaximumRetryAttempts (its
 * EventInvokeConfig), then the event goes to the failure destination (recorded here). At least once, like Lambda.
 */
import { randomBytes } from "node:crypto";
import { EventBridgeClient, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { LocalLambda } from "../../support/lambda/rie.js";

export interface RuleRoute {
  /** The rule's physical name and bus. */
  ruleName: string;
  eventBusName: string;
  lambda: LocalLambda;
  /** Retries after a function error (EventInvokeConfig MaximumRetryAttempts; Lambda's default is 2). */
  maximumRetryAttempts: number;
}

export interface Invocation {
  function: string;
  /** The event's detail-type and detail. */
  detailType: string;
  detail: Record<string, unknown>;
  /** When the event reached the relay (received from the queue) and when each attempt started and ended. */
  receivedAt: number;
  attempts: { startedAt: number; endedAt: number; functionError?: string }[];
  /** Sent to the failure destination after the last retry. */
  failed: boolean;
}

export interface Routing {
  readonly invocations: readonly Invocation[];
  /** Resolves when no event is queued or being invoked. */
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Lambda's delays between retries of an asynchronous invocation are about 1 and 2 minutes; shortened here. */
const RETRY_DELAY_MS = 1_000;

export async function routeRules(routes: readonly RuleRoute[]): Promise<Routing> {
  const events = new EventBridgeClient({});
  const sqs = new SQSClient({});
  const invocations: Invocation[] = [];
  const inFlight = new Set<Promise<void>>();
  const queues: { url: string; route: RuleRoute }[] = [];
  let stopped = false;

  for (const route of routes) {
    const name = `e2e-route-${randomBytes(4).toString("hex")}`;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: route.ruleName,
        EventBusName: route.eventBusName,
        Targets: [{ Id: "LocalLambdaRelay", Arn: Attributes!.QueueArn! }],
      }),
    );
    queues.push({ url: QueueUrl!, route });
  }

  async function invoke(route: RuleRoute, event: Record<string, unknown>): Promise<void> {
    const record: Invocation = {
      function: route.lambda.name,
      detailType: String(event["detail-type"] ?? ""),
      detail: (event.detail ?? {}) as Record<string, unknown>,
      receivedAt: Date.now(),
      attempts: [],
      failed: false,
    };
    invocations.push(record);
    for (let attempt = 0; attempt <= route.maximumRetryAttempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * attempt));
      if (stopped) return;
      const startedAt = Date.now();
      const result = await route.lambda.invoke(event).catch((err: Error) => ({
        payload: { errorMessage: err.message },
        functionError: "Unhandled",
      }));
      record.attempts.push({ startedAt, endedAt: Date.now(), functionError: result.functionError });
      if (!result.functionError) return;
    }
    record.failed = true;
  }

  async function relay(queueUrl: string, route: RuleRoute): Promise<void> {
    while (!stopped) {
      const out = await sqs
        .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))
        .catch(() => ({ Messages: [] }));
      for (const message of out.Messages ?? []) {
        const task = invoke(route, JSON.parse(message.Body ?? "{}") as Record<string, unknown>);
        inFlight.add(task);
        void task.finally(() => inFlight.delete(task));
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
    }
  }

  const relays = queues.map(({ url, route }) => relay(url, route));

  return {
    invocations,
    async idle(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const pending = await Promise.all(
          queues.map(async ({ url }) => {
            const { Attributes } = await sqs.send(
              new GetQueueAttributesCommand({
                QueueUrl: url,
                AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
              }),
            );
            return (
              Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
              Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
            );
          }),
        );
        if (pending.every((n) => n === 0) && inFlight.size === 0) return;
        if (Date.now() > deadline) throw new Error("events still being routed after the timeout");
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      stopped = true;
      await Promise.all(relays);
      await Promise.all([...inFlight]);
      for (const { url } of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
      events.destroy();
      sqs.destroy();
    },
  };
}
