/**
 * A small hand-written fake ECS client for unit tests: each command is answered by a handler the test writes,
 * and every call is recorded. Used where moto cannot go (PENDING tasks, stop codes, capacity failures, throttling).
 * Test-only: nothing in production imports it.
 */
import type { EcsApi } from "../../src/fargate/ecs.js";

export type Handler = (input: Record<string, unknown>) => unknown;

export class FakeEcs {
  readonly calls: { name: string; input: Record<string, unknown> }[] = [];
  private readonly handlers = new Map<string, Handler[]>();

  /** Answers `command` (e.g. "RunTask") with `handler`; several registrations answer successive calls, the last repeats. */
  on(command: string, ...handlers: Handler[]): this {
    this.handlers.set(`${command}Command`, handlers);
    return this;
  }

  callsOf(command: string): Record<string, unknown>[] {
    return this.calls.filter((c) => c.name === `${command}Command`).map((c) => c.input);
  }

  readonly client: EcsApi = {
    send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name;
      const index = this.calls.filter((c) => c.name === name).length;
      this.calls.push({ name, input: command.input });
      const handlers = this.handlers.get(name);
      if (!handlers || handlers.length === 0) throw new Error(`fake ECS: no handler for ${name}`);
      return handlers[Math.min(index, handlers.length - 1)]!(command.input);
    }) as unknown as EcsApi["send"],
  };
}

/** An error shaped like SDK v3's service exceptions (name + message). */
export function awsError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}
