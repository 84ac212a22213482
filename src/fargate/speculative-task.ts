/**
 * The speculative job task: scale-up starts a pending job's task before any manager has taken the job, from the
 * recipe the driver recorded when the same project's job of the same name last ran (src/state/job-shapes.ts); the
 * driver adopts it when the recipe it would use now is exactly the one the task runs, and stops it otherwise.
 *
 * A recipe is everything that decides the RunTask input and nothing secret: the resolved task-definition ARN (image,
 * services, architecture, layout), size and capacity. Service variables are run-time overrides that may carry CI
 * secrets, so a job with any is never recorded, and never adopts.
 *
 * The channel secret must not be readable by anyone who can call DescribeTasks, and a speculative task waits
 * unconnected far longer than a driver-started one. So it never travels in the overrides: scale-up writes it to an
 * S3 object (SSE) that only the job execution role and the managers can read, and the override names that object in
 * the helper's `environmentFiles`, which ECS reads with the execution role before the container starts.
 */
import type { RunTaskCommandInput, Task, TaskOverride } from "@aws-sdk/client-ecs";
import type { Architecture, Capacity } from "../config/schema.js";
import { AGENT_ENV, HELPER_CONTAINER, JOB_TASK_TAGS, startedByFor, tagValue } from "./job-task-names.js";

/** What a job's task was started with, recorded per (runner, project, job name). */
export interface JobTaskRecipe {
  /** The revision-pinned task definition: image, services, architecture and layout in one. */
  taskDefinitionArn: string;
  cpu: number;
  memoryMiB: number;
  ephemeralStorageGiB: number;
  /** The capacity asked for (a Spot start may fall back to on-demand, as the driver's does). */
  capacity: Capacity;
  architecture: Architecture;
  /** For people reading the state table and logs only: the build image and the service images. */
  image: string;
  services: string[];
}

/** A recipe read back from the state table, or undefined when it is not one (missing fields, another capacity). */
export function asJobTaskRecipe(stored: unknown): JobTaskRecipe | undefined {
  const r = stored as Partial<JobTaskRecipe> | undefined;
  const complete =
    typeof r?.taskDefinitionArn === "string" &&
    typeof r.cpu === "number" &&
    typeof r.memoryMiB === "number" &&
    typeof r.ephemeralStorageGiB === "number" &&
    (r.capacity === "FARGATE" || r.capacity === "FARGATE_SPOT") &&
    (r.architecture === "x86_64" || r.architecture === "arm64");
  return complete ? (r as JobTaskRecipe) : undefined;
}

/** Fargate's storage without asking; RunTask's ephemeralStorage override accepts only 21–200 GiB. */
const INCLUDED_STORAGE_GIB = 20;

/** The task-level size overrides of a recipe (the same the driver sends for the same size). */
export function sizeOverrides(recipe: Pick<JobTaskRecipe, "cpu" | "memoryMiB" | "ephemeralStorageGiB">) {
  return {
    cpu: String(recipe.cpu),
    memory: String(recipe.memoryMiB),
    ...(recipe.ephemeralStorageGiB > INCLUDED_STORAGE_GIB
      ? { ephemeralStorage: { sizeInGiB: recipe.ephemeralStorageGiB } }
      : {}),
  } satisfies TaskOverride;
}

/** The `startedBy` of a job's speculative task: the driver lists it by this alone. */
export function speculativeStartedBy(runnerName: string, jobId: string | number): string {
  return startedByFor(`sgr-spec/${jobId}/${runnerName}`);
}

/** The S3 key of a speculative task's secret file (ECS wants the `.env` extension). */
export function secretFileKey(runnerName: string, jobId: string | number, nonce: string): string {
  return `speculative/${encodeURIComponent(runnerName)}/${jobId}/${nonce}.env`;
}

/** The S3 object ARN ECS's `environmentFiles` takes. */
export const s3ObjectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;

/** Bucket and key of an S3 object ARN, or undefined. */
export function parseS3ObjectArn(arn: string): { bucket: string; key: string } | undefined {
  const match = /^arn:aws[a-z-]*:s3:::([^/]+)\/(.+)$/.exec(arn);
  return match ? { bucket: match[1]!, key: match[2]! } : undefined;
}

/** The one line of a secret file: ECS sets it as the helper's environment. */
export const secretFileBody = (secret: string) => `${AGENT_ENV.secret}=${secret}\n`;

/** The secret from a secret file's body, or undefined. */
export function secretFromFile(body: string): string | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${AGENT_ENV.secret}=`));
  return line?.slice(AGENT_ENV.secret.length + 1).trim() || undefined;
}

export interface SpeculativeLaunch {
  cluster: string;
  recipe: JobTaskRecipe;
  runnerName: string;
  projectId: number;
  jobId: number;
  /** S3 ARN of the secret file. */
  secretFileArn: string;
  adoptDeadlineSeconds: number;
  subnets: readonly string[];
  securityGroups: readonly string[];
  assignPublicIp: boolean;
}

/** The RunTask input of a speculative task on `capacity`; the caller adds clientToken. */
export function speculativeRunTaskInput(launch: SpeculativeLaunch, capacity: Capacity): RunTaskCommandInput {
  return {
    cluster: launch.cluster,
    taskDefinition: launch.recipe.taskDefinitionArn,
    count: 1,
    capacityProviderStrategy: [{ capacityProvider: capacity, weight: 1 }],
    overrides: {
      ...sizeOverrides(launch.recipe),
      containerOverrides: [
        {
          name: HELPER_CONTAINER,
          environmentFiles: [{ type: "s3", value: launch.secretFileArn }],
          environment: [
            { name: AGENT_ENV.runnerName, value: launch.runnerName },
            { name: AGENT_ENV.projectId, value: String(launch.projectId) },
            { name: AGENT_ENV.jobId, value: String(launch.jobId) },
            { name: AGENT_ENV.adoptDeadlineSeconds, value: String(launch.adoptDeadlineSeconds) },
          ],
        },
      ],
    },
    startedBy: speculativeStartedBy(launch.runnerName, launch.jobId),
    tags: [
      { key: JOB_TASK_TAGS.runner, value: tagValue(launch.runnerName) },
      { key: JOB_TASK_TAGS.projectId, value: String(launch.projectId) },
      { key: JOB_TASK_TAGS.jobId, value: String(launch.jobId) },
      { key: JOB_TASK_TAGS.speculative, value: String(launch.adoptDeadlineSeconds) },
    ],
    enableExecuteCommand: false,
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...launch.subnets],
        securityGroups: [...launch.securityGroups],
        assignPublicIp: launch.assignPublicIp ? "ENABLED" : "DISABLED",
      },
    },
  };
}

/** The S3 ARN of the secret file a speculative task was started with, or undefined. */
export function secretFileArnOf(task: Task): string | undefined {
  const helper = task.overrides?.containerOverrides?.find((c) => c.name === HELPER_CONTAINER);
  return helper?.environmentFiles?.find((f) => f.type === "s3")?.value;
}

/**
 * Why a waiting speculative task cannot serve a job that needs `wanted`, or undefined when it can: same task
 * definition revision, same size, and the capacity asked for (a Spot request may have fallen back to on-demand).
 */
export function recipeMismatch(task: Task, wanted: JobTaskRecipe): string | undefined {
  if (task.taskDefinitionArn !== wanted.taskDefinitionArn) {
    return `it runs ${task.taskDefinitionArn}, the job needs ${wanted.taskDefinitionArn}`;
  }
  const want = sizeOverrides(wanted);
  const have = task.overrides ?? {};
  const storage = (o: TaskOverride) => o.ephemeralStorage?.sizeInGiB ?? INCLUDED_STORAGE_GIB;
  if (have.cpu !== want.cpu || have.memory !== want.memory || storage(have) !== storage(want)) {
    return (
      `its size is ${have.cpu} CPU units, ${have.memory} MiB, ${storage(have)} GiB; the job needs ` +
      `${want.cpu}, ${want.memory} MiB, ${storage(want)} GiB`
    );
  }
  const capacity = task.capacityProviderName;
  const fits = capacity === wanted.capacity || (wanted.capacity === "FARGATE_SPOT" && capacity === "FARGATE");
  if (!fits) return `it runs on ${capacity ?? "an unknown capacity"}, the job asks for ${wanted.capacity}`;
  return undefined;
}
