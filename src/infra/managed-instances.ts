/**
 * ECS Managed Instances for jobs Fargate cannot run (privileged containers, GPUs): a capacity provider whose EC2
 * instances AWS launches, patches and removes, so nothing runs (nothing is billed per hour) while no job needs one.
 * A second provider with GPU instances exists only when GPU jobs are configured, so a Docker-in-Docker job never
 * lands on (and never keeps alive) a GPU instance.
 *
 * IAM: the infrastructure role is the one AWS documents for Managed Instances (the managed policy
 * AmazonECSInfrastructureRolePolicyForManagedInstances, assumed by ECS only); the instances get aws-cdk-lib's
 * scoped-down instance profile (the ECS agent's calls only), whose name starts with `ecsInstanceRole` as that
 * managed policy's PassRole statement requires. Job tasks keep their own task and execution roles.
 */
import { Duration, Size, Validations } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";

/** A range of whole numbers; `max` omitted means no upper limit. */
export interface Range {
  readonly min: number;
  readonly max?: number;
}

/** GPU instances for jobs that ask for GPUs (`SGR_GPU`). */
export interface ManagedInstancesGpuProps {
  /**
   * Accelerator manufacturers an instance's GPUs may come from.
   * @default [ec2.AcceleratorManufacturer.NVIDIA]
   */
  readonly manufacturers?: ec2.AcceleratorManufacturer[];
  /**
   * GPU models allowed, e.g. `[ec2.AcceleratorName.A10G, ec2.AcceleratorName.T4]`.
   * @default any model of the manufacturers
   */
  readonly names?: ec2.AcceleratorName[];
  /**
   * GPUs per instance.
   * @default { min: 1, max: 4 }
   */
  readonly perInstance?: Range;
  /**
   * Instance types allowed (e.g. `["g5.xlarge", "g6.xlarge"]`), on top of the requirements above.
   * @default any type meeting them
   */
  readonly instanceTypes?: string[];
}

export interface ManagedInstancesProps {
  /**
   * Instance types ECS may launch (e.g. `["m7i.large", "m7i.xlarge"]`), within `vcpus` and `memoryMiB`.
   * @default any current-generation type within `vcpus` and `memoryMiB`
   */
  readonly instanceTypes?: string[];
  /**
   * vCPUs per instance. The upper bound also bounds what one forgotten instance costs per hour.
   * @default { min: 2, max: 16 }
   */
  readonly vcpus?: Range;
  /**
   * Memory per instance, in MiB.
   * @default { min: 4096, max: 65536 }
   */
  readonly memoryMiB?: Range;
  /**
   * Task volume of each instance, in GiB: images, container layers and job workspaces of every job on it.
   * @default 100
   */
  readonly storageGiB?: number;
  /**
   * How long ECS keeps an instance that runs no task before removing it (0 to 60 minutes). Shorter costs less;
   * longer lets the next privileged or GPU job skip an instance start.
   * @default Duration.minutes(5)
   */
  readonly scaleInAfter?: Duration;
  /**
   * Launch Spot instances instead of on-demand ones (cheaper; a reclaimed instance fails its jobs).
   * @default false
   */
  readonly spot?: boolean;
  /**
   * GPU instances, as a capacity provider of their own.
   * @default none, unless a runner configuration allows GPUs (`jobs.managedInstances.maxGpus`); then NVIDIA GPUs
   */
  readonly gpu?: ManagedInstancesGpuProps;
}

export interface ManagedInstancesCapacityProps extends ManagedInstancesProps {
  readonly cluster: ecs.Cluster;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
}

const MAX_SCALE_IN_AFTER_SECONDS = 3600;

export class ManagedInstancesCapacity extends Construct {
  /** The general-purpose provider: privileged jobs and `SGR_CAPACITY=managed-instances`. */
  readonly capacityProviderName: string;
  /** The GPU provider, when GPU instances are configured. */
  readonly gpuCapacityProviderName?: string;
  /** The instances' own security group: no inbound (tasks have their own network interfaces and groups). */
  readonly instanceSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ManagedInstancesCapacityProps) {
    super(scope, id);
    const scaleInAfter = props.scaleInAfter ?? Duration.minutes(5);
    const scaleInSeconds = scaleInAfter.toSeconds();
    if (
      !Number.isInteger(scaleInSeconds) ||
      scaleInSeconds < 0 ||
      scaleInSeconds > MAX_SCALE_IN_AFTER_SECONDS
    ) {
      throw new Error(
        `managedInstances.scaleInAfter must be 0 to 60 minutes in whole seconds, not ${scaleInSeconds} s`,
      );
    }
    this.instanceSecurityGroup = new ec2.SecurityGroup(this, "InstanceSecurityGroup", {
      vpc: props.vpc,
      description: "serverless-gitlab-runner Managed Instances: no inbound (the ECS agent calls out)",
      allowAllOutbound: true,
    });
    const infrastructureRole = new iam.Role(this, "InfrastructureRole", {
      // The trust policy AWS documents for this role (no source condition: ECS is not documented to send one);
      // ECS uses it only for capacity providers this account created with it (iam:PassRole).
      assumedBy: new iam.ServicePrincipal("ecs.amazonaws.com"),
      description: "ECS launches, patches and removes this deployment's Managed Instances",
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonECSInfrastructureRolePolicyForManagedInstances"),
      ],
    });
    Validations.of(infrastructureRole).acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonECSInfrastructureRolePolicyForManagedInstances]",
      reason:
        "the policy AWS documents for the Managed Instances infrastructure role; AWS keeps it in step with what ECS needs",
    });
    const common = {
      infrastructureRole,
      subnets: props.subnets,
      securityGroups: [this.instanceSecurityGroup],
      taskVolumeStorage: Size.gibibytes(props.storageGiB ?? 100),
      capacityOptionType: props.spot ? ecs.CapacityOptionType.SPOT : ecs.CapacityOptionType.ON_DEMAND,
      propagateTags: ecs.PropagateManagedInstancesTags.CAPACITY_PROVIDER,
    };
    const vcpus = props.vcpus ?? { min: 2, max: 16 };
    const memory = props.memoryMiB ?? { min: 4096, max: 65536 };
    const general = new ecs.ManagedInstancesCapacityProvider(this, "General", {
      ...common,
      instanceRequirements: {
        vCpuCountMin: vcpus.min,
        vCpuCountMax: vcpus.max,
        memoryMin: Size.mebibytes(memory.min),
        memoryMax: memory.max === undefined ? undefined : Size.mebibytes(memory.max),
        allowedInstanceTypes: props.instanceTypes,
        instanceGenerations: [ec2.InstanceGeneration.CURRENT],
        burstablePerformance: ec2.BurstablePerformance.EXCLUDED,
      },
    });
    props.cluster.addManagedInstancesCapacityProvider(general);
    acknowledgeInstanceRole(general);
    this.capacityProviderName = general.capacityProviderName;
    scaleInWhenIdle(general, scaleInSeconds);

    if (props.gpu) {
      const perInstance = props.gpu.perInstance ?? { min: 1, max: 4 };
      const gpu = new ecs.ManagedInstancesCapacityProvider(this, "Gpu", {
        ...common,
        // One instance profile for both providers: the same agent, the same calls.
        ec2InstanceProfile: general.ec2InstanceProfile,
        instanceRequirements: {
          vCpuCountMin: 1,
          memoryMin: Size.gibibytes(1),
          acceleratorTypes: [ec2.AcceleratorType.GPU],
          acceleratorManufacturers: props.gpu.manufacturers ?? [ec2.AcceleratorManufacturer.NVIDIA],
          acceleratorNames: props.gpu.names,
          acceleratorCountMin: perInstance.min,
          acceleratorCountMax: perInstance.max,
          allowedInstanceTypes: props.gpu.instanceTypes,
          instanceGenerations: [ec2.InstanceGeneration.CURRENT],
        },
      });
      props.cluster.addManagedInstancesCapacityProvider(gpu);
      this.gpuCapacityProviderName = gpu.capacityProviderName;
      scaleInWhenIdle(gpu, scaleInSeconds);
    }
  }
}

/** Idle instances go after `seconds` (the L2 construct does not expose infrastructure optimization yet). */
function scaleInWhenIdle(provider: ecs.ManagedInstancesCapacityProvider, seconds: number): void {
  (provider.node.defaultChild as ecs.CfnCapacityProvider).addPropertyOverride(
    "ManagedInstancesProvider.InfrastructureOptimization.ScaleInAfter",
    seconds,
  );
}

/** The wildcards of aws-cdk-lib's scoped-down instance role (the ECS agent's own calls), with why each is needed. */
function acknowledgeInstanceRole(provider: ecs.ManagedInstancesCapacityProvider): void {
  const role = provider.node.tryFindChild("InstanceRole");
  if (!role) return; // an instance profile of the operator's own
  Validations.of(role).acknowledge(
    {
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "ecs:DiscoverPollEndpoint supports no resource-level permission (the ECS agent asks where to poll)",
    },
    {
      id: "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:container-instance/*]",
      reason:
        "the ECS agent polls and reports for its own container instance, whose id exists only once it registers",
    },
  );
}
