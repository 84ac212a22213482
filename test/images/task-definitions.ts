/**
 * The container definitions the images must satisfy: the manager's from the synthesized template, the job task's
 * helper from the driver's task-definition layout.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { jobTaskDefinitionRequest } from "../../src/driver/backends/fargate/layout.js";
import { MANAGER_CONTAINER_NAME } from "../../src/infra/compute.js";
import { PROJECT_ROOT } from "../../src/infra/images.js";
import { synthesize } from "../infra/synth.js";

/** CloudFormation's spelling of a container definition (the fields the images must agree with). */
export interface CfnContainerDefinition {
  Name: string;
  User?: string;
  ReadonlyRootFilesystem?: boolean;
  StopTimeout?: number;
  EntryPoint?: string[];
  Command?: string[];
  WorkingDirectory?: string;
  PortMappings?: Array<{ ContainerPort: number }>;
  MountPoints?: Array<{ ContainerPath: string; ReadOnly?: boolean }>;
  Secrets?: Array<{ Name: string }>;
  Environment?: Array<{ Name: string; Value: unknown }>;
}

let managerDefinition: CfnContainerDefinition | undefined;
/** The manager container of the stack synthesized from config/example.json. */
export function managerContainerDefinition(): CfnContainerDefinition {
  if (managerDefinition) return managerDefinition;
  const input: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, "config/example.json"), "utf8"));
  const { template } = synthesize(input, "SgrImages");
  const found = Object.values(template.findResources("AWS::ECS::TaskDefinition"))
    .flatMap((r) => (r.Properties?.ContainerDefinitions ?? []) as CfnContainerDefinition[])
    .filter((c) => c.Name === MANAGER_CONTAINER_NAME);
  if (found.length === 0) throw new Error("the synthesized template has no manager container");
  managerDefinition = found[0]!;
  return managerDefinition;
}

/** The helper container of a job task, as the driver registers it. */
export function helperContainerDefinition(helperImage = "helper:test"): ContainerDefinition {
  const request = jobTaskDefinitionRequest(
    {
      architecture: "x86_64",
      helperImage,
      build: { name: "build", image: "debian:bookworm-slim" },
      services: [],
    } as unknown as Parameters<typeof jobTaskDefinitionRequest>[0],
    {
      region: "us-east-1",
      logGroupName: "/sgr/jobs",
      executionRoleArn: "arn:aws:iam::123456789012:role/sgr-job-execution",
    },
  );
  const helper = request.input.containerDefinitions?.find((c) => c.name === "helper");
  if (!helper) throw new Error("the job task layout has no helper container");
  return helper;
}

/** `podman run` options for a read-only root filesystem when the definition asks for one. */
export function readOnlyOptions(readOnly: boolean | undefined): string[] {
  // Like ECS: a read-only root still gets a writable /tmp only if the definition mounts one; podman's
  // --read-only-tmpfs default would add one, so it is turned off.
  return readOnly ? ["--read-only", "--read-only-tmpfs=false"] : [];
}
