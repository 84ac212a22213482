/** What ECS reports for a speculative start (src/fargate/speculative-task.ts), for the unit tests of both sides. */
import type { Task } from "@aws-sdk/client-ecs";
import {
  type JobTaskRecipe,
  s3ObjectArn,
  speculativeRunTaskInput,
} from "../../src/fargate/speculative-task.js";

export const SECRET_FILE = s3ObjectArn("bucket", "speculative/default/42/n.env");

/** Job 42's speculative task of runner `default`, started from `recipe` on `capacity`. */
export function speculativeTaskOf(recipe: JobTaskRecipe, capacity = recipe.capacity): Task {
  const input = speculativeRunTaskInput(
    {
      cluster: "c",
      recipe,
      runnerName: "default",
      projectId: 7,
      jobId: 42,
      secretFileArn: SECRET_FILE,
      adoptDeadlineSeconds: 90,
      subnets: ["s"],
      securityGroups: ["g"],
      assignPublicIp: false,
    },
    capacity,
  );
  return {
    taskDefinitionArn: input.taskDefinition,
    overrides: input.overrides,
    tags: input.tags,
    capacityProviderName: capacity,
  };
}
