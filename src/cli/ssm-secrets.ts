/** SecureString reads and writes. Values only ever travel between SSM and GitLab, never to output. */
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { awsError } from "./exit-codes.js";

/** The parameter's decrypted value, or undefined when it does not exist. */
export async function readSecret(ssm: SSMClient, name: string): Promise<string | undefined> {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    return out.Parameter?.Value;
  } catch (err) {
    if ((err as { name?: string }).name === "ParameterNotFound") return undefined;
    throw awsError(`reading SSM parameter ${name}`, err);
  }
}

export async function writeSecret(
  ssm: SSMClient,
  name: string,
  value: string,
  description: string,
): Promise<void> {
  try {
    await ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: "SecureString",
        Overwrite: true,
        Description: description,
      }),
    );
  } catch (err) {
    throw awsError(`writing SSM parameter ${name}`, err);
  }
}
