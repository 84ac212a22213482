/** Configurations that turn ECS Managed Instances on, for the template tests and the scanners. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../src/infra/images.js";

const read = (name: string) =>
  JSON.parse(readFileSync(join(PROJECT_ROOT, "config", name), "utf8")) as {
    runners: { jobs?: Record<string, unknown> }[];
  };
export const example = read("example.json");

/**
 * The existing-VPC example (its subnets route out through NAT, as Managed Instances' job tasks need) with its first
 * runner allowed privileged jobs and, optionally, GPUs.
 */
export function withManagedInstances(maxGpus = 0): unknown {
  const input = read("example-existing-vpc.json");
  input.runners[0]!.jobs = {
    ...input.runners[0]!.jobs,
    managedInstances: { enabled: true, maxGpus },
    allowPrivileged: true,
  };
  return input;
}
