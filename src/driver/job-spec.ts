/**
 * What a job asks for, read from gitlab-runner's stage environment: the trusted job payload in
 * `JOB_RESPONSE_FILE` (image entrypoint/platform/user, services, registry credentials) and the `CUSTOM_ENV_*`
 * job variables (ids, per-job size requests). Parsing never throws on odd payload content: a bad field becomes a
 * warning and a default; only an unreadable payload file is an error.
 */

import { readFile } from "node:fs/promises";
import * as z from "zod";
import type { ContainerSpec } from "./backend.js";
import { serviceEnvironment } from "./service-variables.js";
import type { SizeRequest } from "./sizing.js";

export type StageEnv = Record<string, string | undefined>;

export interface RegistryCredential {
  url: string;
  username: string;
  password: string;
}

export interface ServiceSpec extends ContainerSpec {
  /** Ports the service exposes (from the payload); the agent waits until they accept connections. */
  ports: number[];
}

export interface JobSpec {
  jobId: string;
  projectId: string;
  build: ContainerSpec;
  services: ServiceSpec[];
  credentials: RegistryCredential[];
  sizeRequest: SizeRequest;
  warnings: string[];
}

const stringList = z.array(z.string()).nullish();
const portList = z.array(z.object({ number: z.number().int().min(1).max(65535) }).passthrough()).nullish();
const executorOpts = z
  .object({
    docker: z.object({ platform: z.string().nullish(), user: z.string().nullish() }).passthrough().nullish(),
    kubernetes: z
      .object({ user: z.union([z.string(), z.number()]).nullish() })
      .passthrough()
      .nullish(),
  })
  .passthrough()
  .nullish();
const variableList = z
  .array(
    z
      .object({
        key: z.string(),
        value: z.string().nullish(),
        public: z.boolean().nullish(),
        internal: z.boolean().nullish(),
        raw: z.boolean().nullish(),
        file: z.boolean().nullish(),
      })
      .passthrough(),
  )
  .nullish();

const imageSchema = z
  .object({
    name: z.string().nullish(),
    alias: z.string().nullish(),
    entrypoint: stringList,
    command: stringList,
    ports: portList,
    variables: variableList,
    executor_opts: executorOpts,
  })
  .passthrough();

const payloadSchema = z
  .object({
    id: z.union([z.number(), z.string()]).nullish(),
    image: imageSchema.nullish(),
    services: z.array(imageSchema).nullish(),
    variables: variableList,
    credentials: z
      .array(
        z
          .object({ type: z.string(), url: z.string(), username: z.string(), password: z.string() })
          .passthrough(),
      )
      .nullish(),
    job_info: z
      .object({ project_id: z.union([z.number(), z.string()]).nullish() })
      .passthrough()
      .nullish(),
  })
  .passthrough();

/** Service aliases may hold several names separated by commas or spaces (service_multiple_aliases). */
function splitAliases(alias: string | null | undefined, imageName: string): string[] {
  const given = (alias ?? "").split(/[\s,]+/).filter(Boolean);
  // Docker executor default aliases: the image path without tag, with / → __ and / → -.
  const path = imageName.replace(/[:@].*$/, "");
  const defaults = path ? [path.replace(/\//g, "__"), path.replace(/\//g, "-")] : [];
  return [...new Set([...given, ...defaults])];
}

const nonEmpty = (list: string[] | null | undefined) => (list && list.length > 0 ? list : undefined);

export async function readJobSpec(env: StageEnv, defaultImage: string): Promise<JobSpec> {
  const path = env.JOB_RESPONSE_FILE;
  if (!path)
    throw new Error("JOB_RESPONSE_FILE is not set: this must run as a gitlab-runner custom executor stage");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read JOB_RESPONSE_FILE ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`JOB_RESPONSE_FILE ${path} is not valid JSON`);
  }
  return jobSpecFrom(json, env, defaultImage);
}

export function jobSpecFrom(json: unknown, env: StageEnv, defaultImage: string): JobSpec {
  const warnings: string[] = [];
  const parsed = payloadSchema.safeParse(json);
  if (!parsed.success) {
    warnings.push(
      `the job payload has unexpected fields (${parsed.error.issues[0]?.path.join(".")}); using defaults`,
    );
  }
  const payload = parsed.success ? parsed.data : {};

  const image = payload.image ?? undefined;
  const imageName = image?.name || env.CUSTOM_ENV_CI_JOB_IMAGE || defaultImage;
  const dockerOpts = image?.executor_opts?.docker;
  const user = dockerOpts?.user ?? image?.executor_opts?.kubernetes?.user ?? undefined;
  const build: ContainerSpec = {
    name: "build",
    image: imageName,
    entrypoint: nonEmpty(image?.entrypoint),
    user: user === undefined || user === null || user === "" ? undefined : String(user),
  };

  const services: ServiceSpec[] = (payload.services ?? [])
    .filter((s) => {
      if (!s.name) warnings.push("a service without an image name was ignored");
      return Boolean(s.name);
    })
    .map((s, i) => ({
      name: `svc-${i}`,
      image: s.name as string,
      entrypoint: nonEmpty(s.entrypoint),
      command: nonEmpty(s.command),
      aliases: splitAliases(s.alias, s.name as string),
      environment: serviceEnvironment(s.variables ?? [], payload.variables ?? []),
      ports: (s.ports ?? []).map((p) => p.number),
    }));

  const credentials = (payload.credentials ?? [])
    .filter((c) => c.type === "registry")
    .map(({ url, username, password }) => ({ url, username, password }));

  const jobId =
    env.CUSTOM_ENV_CI_JOB_ID ?? (payload.id === undefined || payload.id === null ? "" : String(payload.id));
  if (!/^\d+$/.test(jobId)) throw new Error("cannot tell the job id: CUSTOM_ENV_CI_JOB_ID is missing");
  const projectId = env.CUSTOM_ENV_CI_PROJECT_ID ?? String(payload.job_info?.project_id ?? "0");

  return {
    jobId,
    projectId,
    build,
    services,
    credentials,
    sizeRequest: {
      cpu: env.CUSTOM_ENV_SGR_CPU,
      memory: env.CUSTOM_ENV_SGR_MEMORY,
      ephemeralStorage: env.CUSTOM_ENV_SGR_EPHEMERAL_STORAGE,
      capacity: env.CUSTOM_ENV_SGR_CAPACITY,
      architecture: env.CUSTOM_ENV_SGR_ARCH,
      platform: dockerOpts?.platform ?? undefined,
    },
    warnings,
  };
}
