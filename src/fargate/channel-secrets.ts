/**
 * Where a speculative job task's channel secret waits for its task and its driver: one S3 object per task, written
 * with server-side encryption by scale-up, read by ECS (job execution role, `environmentFiles`) and by the driver
 * that adopts the task, then deleted; the bucket's lifecycle removes any that are left.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parseS3ObjectArn, s3ObjectArn, secretFileBody, secretFromFile } from "./speculative-task.js";

export type S3Api = Pick<S3Client, "send">;

export interface ChannelSecretStore {
  /** Writes the secret file at `key`; its S3 ARN. */
  put(key: string, secret: string): Promise<string>;
  /** The secret in the file at `arn`. */
  read(arn: string): Promise<string>;
  remove(arn: string): Promise<void>;
}

function location(arn: string): { bucket: string; key: string } {
  const parsed = parseS3ObjectArn(arn);
  if (!parsed) throw new Error(`not an S3 object ARN: ${arn}`);
  return parsed;
}

export function s3ChannelSecrets(s3: S3Api, bucket: string): ChannelSecretStore {
  return {
    async put(key, secret) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: secretFileBody(secret),
          ContentType: "text/plain",
          ServerSideEncryption: "AES256",
        }),
      );
      return s3ObjectArn(bucket, key);
    },
    async read(arn) {
      const out = await s3.send(
        new GetObjectCommand({ Bucket: location(arn).bucket, Key: location(arn).key }),
      );
      const secret = secretFromFile((await out.Body?.transformToString("utf8")) ?? "");
      if (!secret) throw new Error(`the secret file ${arn} holds no channel secret`);
      return secret;
    },
    async remove(arn) {
      const { bucket: name, key } = location(arn);
      await s3.send(new DeleteObjectCommand({ Bucket: name, Key: key }));
    },
  };
}
