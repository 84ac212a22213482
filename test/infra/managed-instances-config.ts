/** Configurations that turn ECS Managed Instances on, for the template tests and the scanners. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/infra/images.js";

export const example = JSON.parse(readFileSync(join(PROJECT_ROOT, "config/example.json"), "utf8")) as {
  runners: { jobs: Record<string, unknown> }[];
};

/** The example configuration with its runner allowed privileged jobs and, optionally, GPUs. */
export function withManagedInstances(maxGpus = 0): unknown {
  const input = structuredClone(example);
  input.runners[0]!.jobs = {
    ...input.runners[0]!.jobs,
    managedInstances: { enabled: true, maxGpus },
    allowPrivileged: true,
  };
  return input;
}
