/**
 * Hand-written stand-ins for the unit tests of the control-plane modules: each AWS client answers each
 * command by name from a table of functions and keeps what it was sent. (Integration tests use moto.)
 */
import type { ConfigInput } from "../../src/config/index.js";
import { parseConfig, parseResources } from "../../src/config/index.js";
import type { ControlPlaneDeps, GitLabJobsApi } from "../../src/control-plane/deps.js";
import type { EcsApi } from "../../src/fargate/ecs.js";
import type { StateDb } from "../../src/state/table.js";

type Answer = (input: Record<string, unknown>) => unknown;

export interface Scripted<T> {
  client: T;
  sent: { name: string; input: Record<string, unknown> }[];
  named(name: string): Record<string, unknown>[];
}

/** Answers by command class name (GetCommand, RunTaskCommand, …); an unscripted command fails the test. */
export function scripted<T>(answers: Record<string, Answer>): Scripted<T> {
  const sent: Scripted<T>["sent"] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name;
      sent.push({ name, input: command.input });
      const answer = answers[name];
      if (!answer) throw new Error(`unscripted ${name}`);
      return answer(command.input);
    },
  } as unknown as T;
  return { client, sent, named: (name) => sent.filter((s) => s.name === name).map((s) => s.input) };
}

export const conditionalFailure = () => {
  throw Object.assign(new Error("The conditional request failed"), {
    name: "ConditionalCheckFailedException",
  });
};

export function fakeDeps(options: {
  db: Record<string, Answer>;
  ecs?: Record<string, Answer>;
  config?: Partial<ConfigInput> & Pick<ConfigInput, "runners">;
  gitlab?: GitLabJobsApi | (() => Promise<GitLabJobsApi | undefined>);
  now?: number;
}) {
  const db = scripted<StateDb>(options.db);
  const ecs = scripted<EcsApi>(options.ecs ?? {});
  const metrics: { name: string; value: number }[] = [];
  const logs: { level: string; message: string }[] = [];
  const log = (level: string) => (message: unknown) => {
    logs.push({ level, message: String(message) });
  };
  const gitlab = options.gitlab;
  const deps: ControlPlaneDeps = {
    config: parseConfig({
      gitlab: { url: "https://gitlab.example.com" },
      ...(options.config ?? { runners: [{ name: "default", tags: ["x"] }] }),
    }),
    resources: parseResources({
      eventBusName: "bus",
      stateTableName: "state",
      clusterArn: "cluster",
      subnetIds: ["subnet-1"],
      managerSecurityGroupIds: ["sg-1"],
      managerTaskDefinitions: { default: "mgr", small: "mgr-small", big: "mgr-big" },
    }),
    db: db.client,
    ecs: ecs.client,
    gitlab: typeof gitlab === "function" ? gitlab : async () => gitlab,
    now: () => options.now ?? 1_000_000_000,
    logger: {
      debug: log("debug"),
      info: log("info"),
      warn: log("warn"),
      error: log("error"),
    } as ControlPlaneDeps["logger"],
    metrics: {
      count: (name, value = 1) => metrics.push({ name, value }),
      seconds: (name, value) => metrics.push({ name, value }),
    },
  };
  return { deps, db, ecs, metrics, logs };
}
