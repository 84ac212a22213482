import { describe, expect, it } from "vitest";
import type { EmfProperties, EmfWriter } from "../observability/emf.js";
import { managerRunningMetric } from "./manager.js";

function recorder() {
  const emitted: { name: string; value: number; properties?: EmfProperties }[] = [];
  const metrics: EmfWriter = {
    seconds: (name, value, properties) => emitted.push({ name, value, properties }),
  };
  return { emitted, metrics };
}
const taskArn = "arn:aws:ecs:us-east-1:123456789012:task/sgr/0123456789abcdef";

describe("manager running metric", () => {
  it("is scale-up's start request → marked RUNNING, tagged with the task id", () => {
    const { emitted, metrics } = recorder();
    managerRunningMetric(metrics, taskArn, 50_500)(20_000);
    expect(emitted).toEqual([
      {
        name: "ManagerStartToRunningSeconds",
        value: 30.5,
        properties: { managerTaskId: "0123456789abcdef" },
      },
    ]);
  });

  it("emits nothing when the record has no start time or one far in the future", () => {
    const { emitted, metrics } = recorder();
    managerRunningMetric(metrics, taskArn, 50_000)(undefined);
    managerRunningMetric(metrics, taskArn, 50_000)(90_000);
    expect(emitted).toEqual([]);
  });
});
