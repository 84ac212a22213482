/**
 * The stack with ECS Managed Instances: created only when a runner configuration (or the construct prop) asks for
 * them, a GPU provider only for GPU jobs, the IAM AWS documents for them, idle instances removed, cdk-nag clean.
 */
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { managedInstancesSettings } from "../../src/infra/serverless-gitlab-runner.js";
import { type CfnTemplate, resourcesOfType } from "./cfn.js";
import { example, withManagedInstances } from "./managed-instances-config.js";
import { synthesize } from "./synth.js";

const providers = (t: CfnTemplate) => resourcesOfType(t, "AWS::ECS::CapacityProvider").map(([, p]) => p);

describe("Managed Instances in the stack", () => {
  it("creates nothing for them when no runner configuration uses them", () => {
    expect(managedInstancesSettings(parseConfig(example), undefined)).toBeUndefined();
    const t = synthesize(example, "SgrNoMi").template.toJSON() as CfnTemplate;
    expect(providers(t)).toEqual([]);
  });

  it("creates a general and a GPU capacity provider, idle instances removed after 5 minutes", () => {
    const synth = synthesize(withManagedInstances(1), "SgrMi");
    const t = synth.template.toJSON() as CfnTemplate;
    const created = providers(t);
    expect(created).toHaveLength(2);
    for (const provider of created) {
      expect(provider).toMatchObject({
        ManagedInstancesProvider: {
          InfrastructureOptimization: { ScaleInAfter: 300 },
          InstanceLaunchTemplate: {
            CapacityOptionType: "ON_DEMAND",
            StorageConfiguration: { StorageSizeGiB: 100 },
          },
        },
      });
    }
    const requirements = created.map(
      (p) =>
        (
          p.ManagedInstancesProvider as {
            InstanceLaunchTemplate: { InstanceRequirements: Record<string, unknown> };
          }
        ).InstanceLaunchTemplate.InstanceRequirements,
    );
    expect(requirements[0]).toMatchObject({
      VCpuCount: { Min: 2, Max: 16 },
      BurstablePerformance: "excluded",
    });
    expect(requirements[0]?.AcceleratorTypes).toBeUndefined();
    expect(requirements[1]).toMatchObject({
      AcceleratorTypes: ["gpu"],
      AcceleratorManufacturers: ["nvidia"],
    });
    // Both providers belong to the job cluster.
    const clusterId = resourcesOfType(t, "AWS::ECS::Cluster")[0]?.[0];
    for (const provider of created) expect(provider.ClusterName).toEqual({ Ref: clusterId });
    // The driver learns their names through SGR_RESOURCES.
    const resources = JSON.stringify(synth.stack.resolve(synth.stack.runner.resources));
    expect(resources).toContain("managedInstancesCapacityProvider");
    expect(resources).toContain("managedInstancesGpuCapacityProvider");
  });

  it("uses the infrastructure policy AWS documents, assumed by ECS only, and an ecsInstanceRole instance profile", () => {
    const t = synthesize(withManagedInstances(), "SgrMi").template.toJSON() as CfnTemplate;
    expect(providers(t)).toHaveLength(1);
    const roles = resourcesOfType(t, "AWS::IAM::Role").map(([, r]) => r);
    const infrastructure = roles.filter((r) =>
      JSON.stringify(r.ManagedPolicyArns ?? []).includes(
        "AmazonECSInfrastructureRolePolicyForManagedInstances",
      ),
    );
    expect(infrastructure).toHaveLength(1);
    expect(JSON.stringify(infrastructure[0]?.AssumeRolePolicyDocument)).toContain("ecs.amazonaws.com");
    const profiles = resourcesOfType(t, "AWS::IAM::InstanceProfile").map(([, p]) => p);
    expect(profiles).toHaveLength(1);
    const instanceRole = roles.find((r) => String(r.RoleName ?? "").startsWith("ecsInstanceRole"));
    expect(instanceRole?.ManagedPolicyArns).toBeUndefined();
    // The instances accept nothing inbound: job tasks have their own interfaces and security group.
    const groups = resourcesOfType(t, "AWS::EC2::SecurityGroup").filter(([id]) =>
      id.includes("ManagedInstances"),
    );
    expect(groups).toHaveLength(1);
    expect(groups[0]?.[1].SecurityGroupIngress).toBeUndefined();
  });

  it("passes cdk-nag", () => {
    const synth = synthesize(withManagedInstances(1), "SgrMiNag");
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.stack);
    expect(report.violations).toEqual([]);
  });
});
