/**
 * Wiring of the speculative start (speculative-start.ts) in the scale-up Lambda: the S3 client of the secret
 * bucket, when the deployment has one, and the region whose prices its cost metric uses.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { createS3Client } from "../config/aws-clients.js";
import { s3ChannelSecrets } from "../fargate/channel-secrets.js";
import type { ControlPlaneDeps } from "./deps.js";
import type { SpeculativeDeps } from "./speculative-start.js";

export function speculativeDeps(deps: ControlPlaneDeps): SpeculativeDeps {
  const bucket = deps.resources.channelSecretsBucketName;
  return {
    ...deps,
    channelSecrets: bucket ? s3ChannelSecrets(createS3Client(S3Client), bucket) : undefined,
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION,
  };
}
