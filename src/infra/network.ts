/**
 * Where tasks run. Default: a new VPC with public subnets only and no NAT gateway (zero idle cost); tasks get
 * public IPs and security groups that admit nothing from the internet. Or an existing VPC and subnets.
 */
import { type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { AGENT_CHANNEL_PORT, type Config } from "../config/index.js";

export interface NetworkProps {
  network: Config["network"];
  /** Retention of the VPC flow log (rejected traffic only). */
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  /** A VPC given by the caller; subnets then come from `network.subnetIds` or the VPC's public subnets. */
  vpc?: ec2.IVpc;
}

export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
  readonly assignPublicIp: boolean;
  /** Manager tasks: no inbound at all; outbound to GitLab, AWS APIs and the job tasks' agent port. */
  readonly managerSecurityGroup: ec2.SecurityGroup;
  /** Job tasks: inbound only from the manager security group on the agent channel port. */
  readonly jobSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { network } = props;
    this.assignPublicIp = network.assignPublicIp;

    if (props.vpc) {
      this.vpc = props.vpc;
      this.subnets = network.subnetIds
        ? network.subnetIds.map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId))
        : props.vpc.publicSubnets;
    } else if (network.vpcId) {
      // The schema requires subnetIds with vpcId: synth works offline, so subnets cannot be looked up.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, "Vpc", {
        vpcId: network.vpcId,
        availabilityZones: Stack.of(this).availabilityZones,
      });
      this.subnets = (network.subnetIds ?? []).map((subnetId, i) =>
        ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId),
      );
    } else {
      const vpc = new ec2.Vpc(this, "Vpc", {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 }],
      });
      // Rejected traffic only: a security signal at near-zero cost (accepted image pulls would dominate the bill).
      const flowLogGroup = new logs.LogGroup(this, "FlowLogs", {
        retention: props.logRetention,
        removalPolicy: props.removalPolicy,
      });
      vpc.addFlowLog("RejectedTraffic", {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
        trafficType: ec2.FlowLogTrafficType.REJECT,
      });
      // S3 traffic (the runner cache, ECR image layers) stays on the AWS network through a gateway endpoint: free,
      // no hourly charge, unlike interface endpoints or NAT.
      vpc.addGatewayEndpoint("S3", { service: ec2.GatewayVpcEndpointAwsService.S3 });
      this.vpc = vpc;
      this.subnets = vpc.publicSubnets;
    }

    this.managerSecurityGroup = new ec2.SecurityGroup(this, "ManagerSecurityGroup", {
      vpc: this.vpc,
      description: "serverless-gitlab-runner manager tasks: no inbound",
      allowAllOutbound: true,
    });
    this.jobSecurityGroup = new ec2.SecurityGroup(this, "JobSecurityGroup", {
      vpc: this.vpc,
      description: "serverless-gitlab-runner job tasks: agent channel from managers only",
      allowAllOutbound: true,
    });
    this.jobSecurityGroup.addIngressRule(
      this.managerSecurityGroup,
      ec2.Port.tcp(AGENT_CHANNEL_PORT),
      "agent channel from the runner manager",
    );
  }
}
