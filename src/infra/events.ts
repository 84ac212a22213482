/**
 * The event plumbing: a custom EventBridge bus (with an archive, so lost processing can be replayed) and the
 * dead-letter queue that receives what rules and async invocations could not deliver after retries.
 */
import { Duration, Names, type RemovalPolicy, Validations } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { JOB_EVENT_SOURCE } from "../events/patterns.js";

export interface EventPlumbingProps {
  archiveRetention: Duration;
  removalPolicy: RemovalPolicy;
}

export class EventPlumbing extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  readonly deadLetterQueue: sqs.Queue;
  /**
   * The bus name as `Fn::GetAtt Bus.Name` rather than `Ref`: the same value on AWS, and the form moto's
   * CloudFormation resolves (its `Ref` to a bus yields no physical id), so the template deploys in tests too.
   */
  readonly busName: string;

  constructor(scope: Construct, id: string, props: EventPlumbingProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, "Bus", {});
    this.busName = (this.bus.node.defaultChild as events.CfnEventBus).attrName;
    this.archive = this.bus.archive("Archive", {
      // Archive names are capped at 48 characters; a generated stack-plus-logical-id name can exceed that.
      archiveName: Names.uniqueResourceName(this, { maxLength: 48 }),
      description: "GitLab job events, for replay after a processing failure",
      eventPattern: { source: [JOB_EVENT_SOURCE] },
      retention: props.archiveRetention,
    });

    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the dead-letter queue of the rules and functions.",
    });
  }
}
