/**
 * The one configuration schema. The CDK app validates it at synth time, the Lambdas and the
 * manager/driver validate it again at start (it reaches them as JSON in an environment variable),
 * so a bad value fails early with a message that names the field.
 */
// Namespace import: lets esbuild drop the parts of zod a bundle does not use (~360 KB, ~50 ms of cold start).
import * as z from "zod";
import { normaliseRegistryHost, REGISTRY_HOST_PATTERN } from "./registry-hosts.js";

/** Fargate capacity a task is placed on. FARGATE_SPOT falls back to FARGATE when Spot has no capacity. */
export const capacitySchema = z.enum(["FARGATE", "FARGATE_SPOT"]);
export type Capacity = z.infer<typeof capacitySchema>;

/** Where a job task may run: Fargate, Fargate Spot, or the deployment's ECS Managed Instances capacity provider. */
export const jobCapacitySchema = z.enum(["FARGATE", "FARGATE_SPOT", "MANAGED_INSTANCES"]);
export type JobCapacity = z.infer<typeof jobCapacitySchema>;

export const architectureSchema = z.enum(["x86_64", "arm64"]);
export type Architecture = z.infer<typeof architectureSchema>;

const ssmParameterName = z
  .string()
  .regex(/^\/[A-Za-z0-9_.\-/]{1,1010}$/, "must be an SSM parameter name starting with '/'")
  .refine((name) => !/^\/(aws|ssm)/i.test(name), "must not start with /aws or /ssm (reserved by SSM)");

/** Task size in Fargate units: cpu in vCPU units (1024 = 1 vCPU), memory in MiB. */
export const taskSizeSchema = z
  .object({
    cpu: z.number().int().min(256).max(16384).default(1024),
    memoryMiB: z.number().int().min(512).max(122880).default(2048),
    /** Ephemeral storage in GiB; Fargate gives 20 GiB without asking and allows 21–200 GiB. */
    ephemeralStorageGiB: z.number().int().min(20).max(200).default(21),
  })
  .strict();
export type TaskSize = z.infer<typeof taskSizeSchema>;

export const managerSettingsSchema = z
  .object({
    cpu: z.number().int().min(256).max(4096).default(512),
    memoryMiB: z.number().int().min(512).max(30720).default(1024),
    /**
     * Where the manager task runs. Spot is 70% cheaper; a reclaimed manager drains its jobs (SIGTERM → SIGQUIT).
     * Spot needs architecture x86_64: Fargate Spot does not support ARM64 Linux tasks.
     */
    capacity: capacitySchema.default("FARGATE"),
    architecture: architectureSchema.default("arm64"),
  })
  .strict()
  .superRefine((manager, ctx) => {
    if (manager.capacity === "FARGATE_SPOT" && manager.architecture === "arm64") {
      ctx.addIssue({
        code: "custom",
        path: ["capacity"],
        message: "Fargate Spot does not run arm64 tasks: use FARGATE, or architecture x86_64 for Spot",
      });
    }
  });

/**
 * ECS Managed Instances for jobs that need what Fargate refuses (privileged containers, GPUs). The stack must have
 * the capacity provider (the construct's `managedInstances` prop); a job opts in per job through CI variables.
 */
export const managedInstancesJobSettingsSchema = z
  .object({
    /** Whether jobs of this runner may run on Managed Instances (`SGR_CAPACITY=managed-instances`, `SGR_GPU`, privileged jobs). */
    enabled: z.boolean().default(false),
    /** The most GPUs one job may ask for (`SGR_GPU`); 0 refuses GPU jobs. */
    maxGpus: z.number().int().min(0).max(8).default(0),
  })
  .strict();

/**
 * Starting a pending job's task speculatively, from scale-up, with the shape the same project's job of the same name
 * last ran with, so its start overlaps the manager's (docs/cost-model.md "Speculative job-task starts").
 */
export const speculativeStartSchema = z
  .object({
    /** Whether scale-up starts a pending job's task before a manager takes the job. */
    enabled: z.boolean().default(true),
    /** A speculative task no driver connects to within this many seconds of its agent starting stops itself. */
    adoptDeadlineSeconds: z.number().int().min(10).max(900).default(120),
    /** How long a job's recorded shape is used for speculative starts after its last run (days). */
    shapeTtlDays: z.number().int().min(1).max(90).default(14),
  })
  .strict();

export const jobSettingsSchema = z
  .object({
    /** Image for jobs that name none. */
    defaultImage: z.string().min(1).default("public.ecr.aws/docker/library/alpine:3.22"),
    /** Size a job task gets when it asks for nothing. */
    defaultSize: taskSizeSchema.default({ cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 21 }),
    /** The largest size a job may ask for through CI variables (like the Kubernetes executor's *_overwrite_max_allowed). */
    maxSize: taskSizeSchema.default({ cpu: 4096, memoryMiB: 16384, ephemeralStorageGiB: 100 }),
    /** Where job tasks run; an arm64 job always runs on FARGATE (Fargate Spot does not support ARM64 Linux tasks). */
    capacity: capacitySchema.default("FARGATE_SPOT"),
    /** Whether a job may choose Spot or on-demand itself (CI variable). */
    allowCapacityOverride: z.boolean().default(true),
    managedInstances: managedInstancesJobSettingsSchema.default({ enabled: false, maxGpus: 0 }),
    /**
     * Whether a job may run privileged (`SGR_PRIVILEGED=true`, or a `docker:dind` service): off by default, as with
     * GitLab's Docker and Kubernetes executors. Privileged jobs run on Managed Instances only (Fargate refuses them).
     */
    allowPrivileged: z.boolean().default(false),
    architectures: z.array(architectureSchema).min(1).default(["x86_64", "arm64"]),
    defaultArchitecture: architectureSchema.default("x86_64"),
    /**
     * Registry credentials by registry host (`registry.example.com`, `registry.example.com:5000`; Docker Hub is
     * `docker.io`): each a Secrets Manager secret ARN with `{"username","password"}`, sent (ECS
     * `repositoryCredentials`) only with images on that host. ECR images are pulled with the job execution role.
     */
    registryCredentials: z
      .record(
        z.string(),
        z
          .string()
          .regex(
            /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
            "must be a Secrets Manager secret ARN",
          ),
      )
      .superRefine((map, ctx) => {
        for (const host of Object.keys(map)) {
          if (!REGISTRY_HOST_PATTERN.test(normaliseRegistryHost(host)))
            ctx.addIssue({
              code: "custom",
              path: [host],
              message: "must be a registry host name (e.g. registry.example.com), no scheme or path",
            });
        }
      })
      .transform((map) =>
        Object.fromEntries(Object.entries(map).map(([host, arn]) => [normaliseRegistryHost(host), arn])),
      )
      .default({}),
    /** Replaced by `registryCredentials` (one secret per registry host); refused with a message saying how to move. */
    repositoryCredentialsSecretArn: z.unknown().optional(),
    speculativeStart: speculativeStartSchema.default(() => speculativeStartSchema.parse({})),
    /** Backstop for a job task whose job is gone; the janitor stops tasks older than this. */
    maxJobSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .default(4 * 3600),
  })
  .strict()
  .superRefine((jobs, ctx) => {
    for (const key of ["cpu", "memoryMiB", "ephemeralStorageGiB"] as const) {
      if (jobs.defaultSize[key] > jobs.maxSize[key]) {
        ctx.addIssue({
          code: "custom",
          path: ["defaultSize", key],
          message: `must not exceed maxSize.${key} (${jobs.maxSize[key]})`,
        });
      }
    }
    if (jobs.repositoryCredentialsSecretArn !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["repositoryCredentialsSecretArn"],
        message:
          'replaced by registryCredentials, which names the registry each secret is for: { "<registry host>": "<secret ARN>" }',
      });
    }
    if (!jobs.architectures.includes(jobs.defaultArchitecture)) {
      ctx.addIssue({
        code: "custom",
        path: ["defaultArchitecture"],
        message: "must be one of architectures",
      });
    }
    if (jobs.allowPrivileged && !jobs.managedInstances.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["allowPrivileged"],
        message: "requires managedInstances.enabled (Fargate runs no privileged container)",
      });
    }
    if (jobs.managedInstances.maxGpus > 0 && !jobs.managedInstances.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["managedInstances", "maxGpus"],
        message: "requires managedInstances.enabled (Fargate has no GPUs)",
      });
    }
  });

/** How a running manager learns that a job is pending for it (docs/metrics.md "Wake"). */
export const wakeSettingsSchema = z
  .object({
    /**
     * Scale-up records each pending job for the runner configuration whose manager already runs; that manager starts
     * a new gitlab-runner generation that asks for it at once instead of waiting for `check_interval` (beside running
     * jobs, allowed only the rest of `concurrent`; docs/metrics.md).
     */
    enabled: z.boolean().default(true),
    /** How often (ms) a manager reads the pending jobs recorded for it: one state-table read each time. */
    pollMs: z.number().int().min(250).max(60_000).default(500),
  })
  .strict();

export const runnerConfigSchema = z
  .object({
    /** Stable name of this runner configuration: used in resource names, SSM paths and the runner system id. */
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/,
        "must be 2–32 chars of a-z, 0-9 and '-', starting with a letter",
      ),
    /** The runner's tags, as registered in GitLab. */
    tags: z.array(z.string().min(1).max(255)).default([]),
    /** Whether the runner takes jobs without tags. */
    runUntagged: z.boolean().default(false),
    /** SSM SecureString holding this runner's `glrt-` authentication token. @default /serverless-gitlab-runner/<name>/runner-token */
    runnerTokenParameter: ssmParameterName.optional(),
    /** Jobs one manager runs at once (gitlab-runner `concurrent`). */
    concurrent: z.number().int().min(1).max(200).default(10),
    /** A manager with no job started for this long is stopped. */
    idleTimeoutSeconds: z
      .number()
      .int()
      .min(60)
      .max(24 * 3600)
      .default(600),
    /** A manager is never stopped for idleness before it has run this long. */
    minRunningSeconds: z
      .number()
      .int()
      .min(0)
      .max(24 * 3600)
      .default(180),
    /** A manager running longer than this is drained and replaced (bounds token and image staleness). */
    maxLifetimeSeconds: z
      .number()
      .int()
      .min(600)
      .max(7 * 24 * 3600)
      .default(12 * 3600),
    /**
     * gitlab-runner's `check_interval`: seconds between job requests while nothing wakes the runner. With GitLab's
     * long polling a request is held open meanwhile, so this only paces requests that come back empty.
     */
    checkIntervalSeconds: z.number().int().min(1).max(300).default(3),
    /** Waking an idle manager's runner for a pending job (docs/metrics.md "Wake"). */
    wake: wakeSettingsSchema.default({ enabled: true, pollMs: 500 }),
    manager: managerSettingsSchema.default({
      cpu: 512,
      memoryMiB: 1024,
      capacity: "FARGATE",
      architecture: "arm64",
    }),
    jobs: jobSettingsSchema.default(() => jobSettingsSchema.parse({})),
  })
  .strict();
export type RunnerConfig = z.infer<typeof runnerConfigSchema>;

export const networkSchema = z
  .object({
    /** Existing VPC to use. Without it a VPC with public subnets only (no NAT gateway) is created. */
    vpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]+$/, "must be a VPC id (vpc-…)")
      .optional(),
    /** Subnets for manager and job tasks (with vpcId). */
    subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, "must be a subnet id (subnet-…)")).optional(),
    /**
     * Give tasks a public IP: needed in public subnets without NAT. `false` requires `vpcId` and `subnetIds` of
     * your own VPC whose subnets route out (a NAT gateway, or VPC endpoints plus a route to GitLab).
     */
    assignPublicIp: z.boolean().default(true),
  })
  .strict()
  .superRefine((net, ctx) => {
    if (net.subnetIds && !net.vpcId) {
      ctx.addIssue({ code: "custom", path: ["subnetIds"], message: "requires vpcId" });
    }
    if (net.vpcId && !net.subnetIds?.length) {
      ctx.addIssue({
        code: "custom",
        path: ["subnetIds"],
        message: "required with vpcId (subnets are not looked up at synth time)",
      });
    }
    // The VPC created for you has public subnets only and no NAT: without a public IP a task reaches nothing.
    if (!net.assignPublicIp && !net.vpcId) {
      ctx.addIssue({
        code: "custom",
        path: ["assignPublicIp"],
        message:
          "false requires vpcId and subnetIds of your own VPC whose subnets route out (NAT gateway, or VPC " +
          "endpoints for ECR, S3, SSM and CloudWatch Logs plus a route to GitLab): the VPC created for you has " +
          "no NAT, so tasks without a public IP could not pull images or reach GitLab",
      });
    }
  });

export const webhookSettingsSchema = z
  .object({
    /** Bodies above this are refused with 413. GitLab's Job Hook is a few KB; Pipeline Hooks grow with builds[]. */
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(6 * 1024 * 1024)
      .default(1024 * 1024),
    /** How long a Lambda container keeps the secret it read from SSM; a rotated secret takes effect within this. */
    secretCacheTtlSeconds: z.number().int().min(0).max(3600).default(60),
    /** Signed webhooks: a `webhook-timestamp` further than this from now is a replay and is refused. */
    signatureToleranceSeconds: z.number().int().min(30).max(3600).default(300),
    /**
     * Refuse deliveries without a valid `webhook-signature` even when `X-Gitlab-Token` matches
     * (requires ssm.webhookSigningTokenParameter). Off by default: either configured mechanism suffices.
     */
    requireSignature: z.boolean().default(false),
  })
  .strict();

export const configSchema = z
  .object({
    gitlab: z
      .object({
        /** Base URL of the GitLab instance, e.g. https://gitlab.com */
        url: z
          .string()
          .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, "must be an http(s) URL such as https://gitlab.com")
          .transform((u) => u.replace(/\/+$/, "")),
        /** Projects (ids) whose pending jobs the reconciler lists through the API to catch lost webhooks. */
        reconcileProjectIds: z.array(z.number().int().positive()).default([]),
      })
      .strict(),
    ssm: z
      .object({
        /** SecureString with the webhook's secret token (X-Gitlab-Token). */
        webhookSecretParameter: ssmParameterName.default("/serverless-gitlab-runner/webhook-secret"),
        /** SecureString with a `whsec_…` signing token; when set, signed deliveries are verified too. */
        webhookSigningTokenParameter: ssmParameterName.optional(),
        /** SecureString with a read_api token; when set, scale-up confirms a job is pending and its tags fit. */
        gitlabApiTokenParameter: ssmParameterName.optional(),
      })
      .strict()
      .default({ webhookSecretParameter: "/serverless-gitlab-runner/webhook-secret" }),
    runners: z
      .array(runnerConfigSchema)
      .min(1, "needs at least one runner configuration")
      .superRefine((runners, ctx) => {
        const seen = new Set<string>();
        runners.forEach((r, i) => {
          if (seen.has(r.name))
            ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate name '${r.name}'` });
          seen.add(r.name);
          if (r.tags.length === 0 && !r.runUntagged) {
            ctx.addIssue({
              code: "custom",
              path: [i, "runUntagged"],
              message: "a runner with no tags must set runUntagged: true, or it can never take a job",
            });
          }
        });
      }),
    network: networkSchema.default({ assignPublicIp: true }),
    webhook: webhookSettingsSchema.default({
      maxBodyBytes: 1024 * 1024,
      secretCacheTtlSeconds: 60,
      signatureToleranceSeconds: 300,
      requireSignature: false,
    }),
    /** Period of the scheduled idle-stop/reconcile Lambda, in minutes. */
    schedulePeriodMinutes: z.number().int().min(1).max(60).default(1),
    /** Days a job task definition may go unused before the janitor deregisters and deletes it. */
    taskDefinitionRetentionDays: z.number().int().min(1).max(365).default(14),
  })
  .strict()
  .superRefine((config, ctx) => {
    // A task on Managed Instances gets an interface with a private address only (the instance's own interface is
    // the one a public subnet gives a public address): its job reaches GitLab only through the subnets' NAT.
    config.runners.forEach((runner, i) => {
      if (runner.jobs.managedInstances.enabled && config.network.assignPublicIp) {
        ctx.addIssue({
          code: "custom",
          path: ["runners", i, "jobs", "managedInstances", "enabled"],
          message:
            "requires network.assignPublicIp: false with vpcId and subnetIds that route out through a NAT gateway: " +
            "job tasks on Managed Instances get no public IP address",
        });
      }
    });
    if (config.webhook.requireSignature && !config.ssm.webhookSigningTokenParameter) {
      ctx.addIssue({
        code: "custom",
        path: ["webhook", "requireSignature"],
        message: "requires ssm.webhookSigningTokenParameter",
      });
    }
  });

/** Configuration as written by the user (defaults not yet applied). */
export type ConfigInput = z.input<typeof configSchema>;
/** Configuration after validation, with every default applied. */
export type Config = z.infer<typeof configSchema>;

/** The SSM parameter holding a runner configuration's token. */
export function runnerTokenParameterName(runner: RunnerConfig): string {
  return runner.runnerTokenParameter ?? `/serverless-gitlab-runner/${runner.name}/runner-token`;
}
