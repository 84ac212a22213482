/**
 * Wiring of the speculative start (speculative-start.ts) in the scale-up Lambda: the channel secrets' S3 store, when
 * the deployment has a bucket for them, and the region whose prices its cost metric uses.
 */
import { createS3Client } from "../config/aws-clients.js";
import type { ChannelSecretStore } from "../fargate/channel-secrets.js";
import type { ControlPlaneDeps } from "./deps.js";
import type { SpeculativeDeps } from "./speculative-start.js";

export function speculativeDeps(deps: ControlPlaneDeps): SpeculativeDeps {
  const bucket = deps.resources.channelSecretsBucketName;
  return {
    ...deps,
    channelSecrets: bucket ? lazyChannelSecrets(bucket) : undefined,
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION,
  };
}

/**
 * The S3 store, loaded at its first use: the S3 client is evaluated only when a speculative start writes a secret,
 * not in every cold start of scale-up (which is on the path of the first job of a burst).
 */
function lazyChannelSecrets(bucket: string): ChannelSecretStore {
  let store: Promise<ChannelSecretStore> | undefined;
  const load = () => {
    store ??= Promise.all([import("@aws-sdk/client-s3"), import("../fargate/channel-secrets.js")]).then(
      ([{ S3Client }, { s3ChannelSecrets }]) => s3ChannelSecrets(createS3Client(S3Client), bucket),
    );
    return store;
  };
  return {
    put: async (key, secret) => (await load()).put(key, secret),
    read: async (arn) => (await load()).read(arn),
    remove: async (arn) => (await load()).remove(arn),
  };
}
