/** The error an ECS call was refused with (name and message), or a failure when the call was accepted. */
import type { ECSServiceException } from "@aws-sdk/client-ecs";

export async function rejection(promise: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as ECSServiceException;
    return { name: e.name, message: e.message };
  }
  throw new Error("the call was accepted");
}
