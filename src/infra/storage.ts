/**
 * State that outlives a task: the DynamoDB state table (manager slots, manager records, job records, webhook
 * dedupe), the S3 bucket of gitlab-runner's distributed cache, and the bucket of speculative job tasks' channel
 * secret files.
 */
import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";

/** Attribute DynamoDB expires items by (epoch seconds); the webhook dedupe and job records set it. */
export const STATE_TABLE_TTL_ATTRIBUTE = "ttl";

export interface StorageProps {
  removalPolicy: RemovalPolicy;
  cacheExpiration: Duration;
  /** Bucket for S3 server access logs of the cache bucket; none when undefined. */
  cacheAccessLogsBucket?: s3.IBucket;
}

export class Storage extends Construct {
  readonly stateTable: dynamodb.Table;
  readonly cacheBucket: s3.Bucket;
  /**
   * Channel secret files of speculative job tasks (src/fargate/speculative-task.ts): written by scale-up, read by
   * ECS with the job execution role and by the adopting manager, deleted on adoption, expired after a day.
   */
  readonly channelSecretsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    // A regional table (not TableV2's global table): one region is all we need, and it is what moto deploys.
    this.stateTable = new dynamodb.Table(this, "StateTable", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "sk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: STATE_TABLE_TTL_ATTRIBUTE,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy,
    });

    // What both private buckets share: encrypted, TLS only, no public access, owner-enforced, unversioned.
    const privateBucket = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      removalPolicy: props.removalPolicy,
    };
    this.cacheBucket = new s3.Bucket(this, "CacheBucket", {
      ...privateBucket,
      ...(props.cacheAccessLogsBucket
        ? { serverAccessLogsBucket: props.cacheAccessLogsBucket, serverAccessLogsPrefix: "runner-cache/" }
        : {}),
      lifecycleRules: [
        {
          id: "expire-cache",
          expiration: props.cacheExpiration,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    this.channelSecretsBucket = new s3.Bucket(this, "ChannelSecretsBucket", {
      ...privateBucket,
      // A secret file is needed for minutes: one left by a task nobody adopted goes after a day.
      lifecycleRules: [{ id: "expire-secret-files", expiration: Duration.days(1) }],
    });
    Validations.of(this.channelSecretsBucket).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "Server access logs are off: the bucket holds short-lived secret files that only scale-up writes and only " +
        "the job execution role and the managers read (TLS, no public access); CloudTrail data events cover audits.",
    });
    if (!props.cacheAccessLogsBucket) {
      Validations.of(this.cacheBucket).acknowledge({
        id: "AwsSolutions-S1",
        reason:
          "Server access logs are off by default: the bucket holds only a rebuildable build cache, reached only by " +
          "our task role (TLS, no public access); a log bucket would add cost and its own unlogged bucket. " +
          "Pass cacheAccessLogsBucket to turn them on.",
      });
    }
  }
}
