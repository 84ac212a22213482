/**
 * "ECS Task State Change" events, put on EventBridge (moto) as ECS emits them: source `aws.ecs`, the task as the
 * detail (timestamps as ISO strings), the task ARN as the resource.
 */
import type { Task } from "@aws-sdk/client-ecs";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { MotoClients } from "./moto-clients.js";

export const TASK_STATE_CHANGE = "ECS Task State Change";

/** The task as an event detail: every Date as an ISO string, as EventBridge events carry them. */
export function eventDetail(task: Task, version: number): Record<string, unknown> {
  const iso = (value: unknown): unknown => {
    if (value instanceof Date) return value.toISOString();
    if (Array.isArray(value)) return value.map(iso);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, iso(v)]));
    }
    return value;
  };
  return { ...(iso(task) as Record<string, unknown>), version, updatedAt: new Date().toISOString() };
}

export class TaskEvents {
  /** Events put so far (what EventBridge was sent), for tests and the benchmark. */
  readonly sent: { time: Date; detail: Record<string, unknown> }[] = [];
  private chain = Promise.resolve();

  constructor(
    private readonly clients: MotoClients,
    private readonly busNames: readonly string[],
  ) {}

  /** Queues one event per bus; events of a run keep their order. */
  emit(task: Task, version: number): void {
    const detail = eventDetail(task, version);
    const time = new Date();
    this.sent.push({ time, detail });
    for (const bus of this.busNames) {
      this.chain = this.chain.then(() =>
        this.clients.events
          .send(
            new PutEventsCommand({
              Entries: [
                {
                  EventBusName: bus,
                  Source: "aws.ecs",
                  DetailType: TASK_STATE_CHANGE,
                  Resources: task.taskArn ? [task.taskArn] : [],
                  Detail: JSON.stringify(detail),
                  Time: time,
                },
              ],
            }),
          )
          .then(() => undefined)
          .catch(() => undefined),
      );
    }
  }

  /** Resolves once every queued event has been put. */
  flushed(): Promise<void> {
    return this.chain;
  }
}
