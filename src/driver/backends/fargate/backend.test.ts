/**
 * The fargate backend driven through states and failures moto does not emulate (tasks waiting in PROVISIONING/
 * PENDING without an address, Spot capacity shortages, image pull errors, throttling, inactive definitions,
 * cancellation), with a hand-written fake ECS client. The moto-backed tests are in test/driver/fargate-*.test.ts.
 */
import { describe, expect, it } from "vitest";
import { awsError, FakeEcs } from "../../../../test/support/fake-ecs.js";
import type { StartTaskRequest } from "../../backend.js";
import { FargateBackend, FargateBackendError, jobTaskOverrides, MAX_OVERRIDES_CHARS } from "./backend.js";

const TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/jobs/0123456789abcdef0123456789abcdef";
const DEFINITION = {
  arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/sgr-job-00112233aabbccdd:1",
  family: "sgr-job-00112233aabbccdd",
  shapeHash: "00112233aabbccdd",
};

const eni = (ip: string) => [
  { type: "ElasticNetworkInterface", details: [{ name: "privateIPv4Address", value: ip }] },
];

function request(overrides: Partial<StartTaskRequest> = {}): StartTaskRequest {
  return {
    identity: { runnerName: "default", projectId: "7", jobId: "1001", managerTaskId: "aaaabbbbccccdddd" },
    shape: {
      build: { name: "build", image: "alpine:3.22" },
      services: [],
      architecture: "x86_64",
      helperImage: "helper:1",
    },
    settings: { size: { cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 21 }, capacity: "FARGATE_SPOT" },
    agentSecret: "agent-secret",
    ...overrides,
  };
}

interface Harness {
  fake: FakeEcs;
  backend: FargateBackend;
  resolved: number;
  invalidated: string[];
  slept: number[];
}

function harness(
  configure: (fake: FakeEcs) => void,
  managedInstances: {
    managedInstancesCapacityProvider?: string;
    managedInstancesGpuCapacityProvider?: string;
  } = {},
): Harness {
  const fake = new FakeEcs().on("ListTasks", () => ({ taskArns: [] }));
  configure(fake);
  const h: Harness = {
    fake,
    backend: undefined as unknown as FargateBackend,
    resolved: 0,
    invalidated: [],
    slept: [],
  };
  h.backend = new FargateBackend({
    ecs: fake.client,
    cluster: "jobs",
    subnetIds: ["subnet-1"],
    securityGroupIds: ["sg-1"],
    assignPublicIp: true,
    taskDefinitions: {
      resolve: async () => {
        h.resolved++;
        return DEFINITION;
      },
      invalidate: (family) => h.invalidated.push(family),
    },
    ...managedInstances,
    pollIntervalMs: 100,
    addressTimeoutMs: 60_000,
    sleep: async (ms) => {
      h.slept.push(ms);
    },
  });
  return h;
}

describe("fargate backend: starting (fake ECS)", () => {
  it("waits through PROVISIONING and PENDING until the task's ENI has an address", async () => {
    const h = harness((fake) =>
      fake
        .on("RunTask", () => ({
          tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING", desiredStatus: "RUNNING" }],
        }))
        .on(
          "DescribeTasks",
          () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING", desiredStatus: "RUNNING" }] }),
          () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PENDING", desiredStatus: "RUNNING" }] }),
          () => ({
            tasks: [
              {
                taskArn: TASK_ARN,
                lastStatus: "PENDING",
                desiredStatus: "RUNNING",
                attachments: eni("10.0.3.7"),
              },
            ],
          }),
        ),
    );
    const started = await h.backend.startTask(request());
    // The task holds a public IPv4 address (assignPublicIp), which the job's cost includes.
    // Its recipe is what scale-up may start the next job of the same name with: no secret in it.
    expect(started).toEqual({
      taskId: TASK_ARN,
      endpoint: { host: "10.0.3.7", port: 7443 },
      publicIpv4: true,
      recipe: {
        taskDefinitionArn: DEFINITION.arn,
        cpu: 1024,
        memoryMiB: 2048,
        ephemeralStorageGiB: 21,
        capacity: "FARGATE_SPOT",
        architecture: "x86_64",
        image: "alpine:3.22",
        services: [],
      },
    });
    expect(h.fake.callsOf("DescribeTasks")).toHaveLength(3);
    expect(h.slept).toEqual([100, 200, 400]); // backing off between polls
    const run = h.fake.callsOf("RunTask")[0]!;
    expect(run).toMatchObject({
      cluster: "jobs",
      taskDefinition: DEFINITION.arn,
      capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
      enableExecuteCommand: false,
      startedBy: "aaaabbbbccccdddd",
      networkConfiguration: {
        awsvpcConfiguration: { subnets: ["subnet-1"], securityGroups: ["sg-1"], assignPublicIp: "ENABLED" },
      },
    });
    expect(run.launchType).toBeUndefined(); // capacity providers and launchType are mutually exclusive
    expect(String(run.clientToken)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("falls back to on-demand when Spot has no capacity, and says so in the job log", async () => {
    const h = harness((fake) =>
      fake.on(
        "RunTask",
        () => ({
          tasks: [],
          failures: [
            {
              reason:
                "Capacity is unavailable at this time. Please try again later or in a different availability zone",
            },
          ],
        }),
        () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING", attachments: eni("10.0.0.9") }] }),
      ),
    );
    const notices: string[] = [];
    const started = await h.backend.startTask(request({ notice: (line) => notices.push(line) }));
    expect(started.endpoint.host).toBe("10.0.0.9");
    // The driver prices the job at the capacity it really got (JobTaskCostUsd).
    expect(started.capacity).toBe("FARGATE");
    const runs = h.fake.callsOf("RunTask");
    expect(
      runs.map((r) => (r.capacityProviderStrategy as { capacityProvider: string }[])[0]!.capacityProvider),
    ).toEqual(["FARGATE_SPOT", "FARGATE"]);
    expect(runs[0]!.clientToken).not.toBe(runs[1]!.clientToken);
    expect(notices).toEqual([
      expect.stringMatching(/Fargate Spot has no capacity.*on-demand Fargate instead/),
    ]);
  });

  it("also falls back when a Spot task is accepted but stopped for lack of capacity before it starts", async () => {
    const h = harness((fake) =>
      fake
        .on(
          "RunTask",
          () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING" }] }),
          () => ({
            tasks: [{ taskArn: `${TASK_ARN}2`, lastStatus: "PROVISIONING", attachments: eni("10.0.0.10") }],
          }),
        )
        .on("DescribeTasks", () => ({
          tasks: [
            {
              taskArn: TASK_ARN,
              lastStatus: "STOPPED",
              desiredStatus: "STOPPED",
              stopCode: "TaskFailedToStart",
              stoppedReason: "Capacity is unavailable at this time.",
            },
          ],
        })),
    );
    const started = await h.backend.startTask(request());
    expect(started.taskId).toBe(`${TASK_ARN}2`);
  });

  it("falls back when RunTask raises the capacity shortage as an exception", async () => {
    const h = harness((fake) =>
      fake.on(
        "RunTask",
        () => {
          throw awsError("ServerException", "Capacity is unavailable at this time.");
        },
        () => ({ tasks: [{ taskArn: TASK_ARN, attachments: eni("10.0.0.11") }] }),
      ),
    );
    expect((await h.backend.startTask(request())).endpoint.host).toBe("10.0.0.11");
    expect(h.fake.callsOf("RunTask")).toHaveLength(2);
  });

  it("does not fall back for on-demand capacity, and reports when neither provider has room", async () => {
    const none = () => ({ tasks: [], failures: [{ reason: "Capacity is unavailable at this time." }] });
    const onDemand = harness((fake) => fake.on("RunTask", none));
    const req = request();
    await expect(
      onDemand.backend.startTask({ ...req, settings: { ...req.settings, capacity: "FARGATE" } }),
    ).rejects.toThrow(FargateBackendError);
    expect(onDemand.fake.callsOf("RunTask")).toHaveLength(1);

    const neither = harness((fake) => fake.on("RunTask", none));
    await expect(neither.backend.startTask(request())).rejects.toThrow(/Capacity is unavailable/);
    expect(neither.fake.callsOf("RunTask")).toHaveLength(2);
  });

  it("reports an image that cannot be pulled in plain words", async () => {
    const h = harness((fake) =>
      fake
        .on("RunTask", () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING" }] }))
        .on("DescribeTasks", () => ({
          tasks: [
            {
              taskArn: TASK_ARN,
              lastStatus: "STOPPED",
              desiredStatus: "STOPPED",
              stopCode: "TaskFailedToStart",
              stoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
              containers: [
                {
                  name: "build",
                  image: "registry.example.com/missing:latest",
                  reason: "CannotPullContainerError: registry.example.com/missing:latest: not found",
                },
              ],
            },
          ],
        })),
    );
    await expect(h.backend.startTask(request())).rejects.toThrow(
      "the job task stopped before it could be reached: the image 'registry.example.com/missing:latest' of container 'build' could not be pulled: CannotPullContainerError: registry.example.com/missing:latest: not found",
    );
  });

  it("retries a throttled RunTask with backoff, reusing the idempotency token", async () => {
    const h = harness((fake) =>
      fake.on(
        "RunTask",
        () => {
          throw awsError("ThrottlingException", "Rate exceeded");
        },
        () => {
          throw awsError("ThrottlingException", "Rate exceeded");
        },
        () => ({ tasks: [{ taskArn: TASK_ARN, attachments: eni("10.0.0.1") }] }),
      ),
    );
    await h.backend.startTask(request());
    const tokens = h.fake.callsOf("RunTask").map((r) => r.clientToken);
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(1);
    expect(h.slept).toHaveLength(2);
  });

  it("re-resolves the task definition once when the cached revision was deregistered meanwhile", async () => {
    const h = harness((fake) =>
      fake.on(
        "RunTask",
        () => {
          throw awsError("ClientException", "TaskDefinition is inactive");
        },
        () => ({ tasks: [{ taskArn: TASK_ARN, attachments: eni("10.0.0.1") }] }),
      ),
    );
    await h.backend.startTask(request());
    expect(h.invalidated).toEqual([DEFINITION.family]);
    expect(h.resolved).toBe(2);
  });

  it("stops the task it started when the job is cancelled while waiting", async () => {
    const controller = new AbortController();
    const h = harness((fake) =>
      fake
        .on("RunTask", () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING" }] }))
        .on("DescribeTasks", () => {
          controller.abort(new Error("job cancelled"));
          return { tasks: [{ taskArn: TASK_ARN, lastStatus: "PENDING", desiredStatus: "RUNNING" }] };
        })
        .on("StopTask", () => ({})),
    );
    await expect(h.backend.startTask(request(), controller.signal)).rejects.toThrow("job cancelled");
    expect(h.fake.callsOf("StopTask")).toEqual([
      { cluster: "jobs", task: TASK_ARN, reason: expect.stringMatching(/cancelled/) },
    ]);
  });

  it("gives up and stops a task that never gets an address", async () => {
    const h = harness((fake) =>
      fake
        .on("RunTask", () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING" }] }))
        .on("DescribeTasks", () => ({
          tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING", desiredStatus: "RUNNING" }],
        }))
        .on("StopTask", () => ({})),
    );
    const backend = new FargateBackend({
      ecs: h.fake.client,
      cluster: "jobs",
      subnetIds: ["subnet-1"],
      securityGroupIds: [],
      assignPublicIp: false,
      taskDefinitions: { resolve: async () => DEFINITION, invalidate: () => {} },
      addressTimeoutMs: 30,
      pollIntervalMs: 10,
    });
    await expect(backend.startTask(request())).rejects.toThrow(
      /got no network address in time; it was stopped/,
    );
    expect(h.fake.callsOf("StopTask")).toHaveLength(1);
  });

  it("sends service variables as the service containers' environment overrides", () => {
    const services = [
      { name: "svc-0", image: "postgres:17", environment: { POSTGRES_PASSWORD: "pw", POSTGRES_DB: "shop" } },
      { name: "svc-1", image: "redis:8" },
    ];
    const overrides = jobTaskOverrides(request({ shape: { ...request().shape, services } }));
    expect(overrides.containerOverrides?.slice(1)).toEqual([
      {
        name: "svc-0",
        environment: [
          { name: "POSTGRES_DB", value: "shop" },
          { name: "POSTGRES_PASSWORD", value: "pw" },
        ],
      },
    ]);
    const huge = [
      { name: "svc-0", image: "postgres:17", environment: { BIG: "x".repeat(MAX_OVERRIDES_CHARS) } },
    ];
    expect(() => jobTaskOverrides(request({ shape: { ...request().shape, services: huge } }))).toThrow(
      /above ECS's limit of 8192.*service variables/,
    );
  });

  it("keeps RunTask overrides under ECS's 8192-character limit, with a clear error past it", () => {
    const normal = JSON.stringify(jobTaskOverrides(request()));
    expect(normal.length).toBeLessThan(1000);
    expect(() => jobTaskOverrides(request({ agentSecret: "x".repeat(MAX_OVERRIDES_CHARS) }))).toThrow(
      /above ECS's limit of 8192/,
    );
  });
});

describe("fargate backend: logs (fake ECS)", () => {
  it("never writes the agent secret to a log line", async () => {
    const lines: unknown[] = [];
    const logger = {
      info: (...args: unknown[]) => lines.push(args),
      warn: (...args: unknown[]) => lines.push(args),
    };
    const fake = new FakeEcs()
      .on("ListTasks", () => ({ taskArns: [] }))
      .on(
        "RunTask",
        () => ({ tasks: [], failures: [{ reason: "Capacity is unavailable at this time." }] }),
        () => ({ tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING" }] }),
      )
      .on(
        "DescribeTasks",
        () => {
          throw awsError("ServerException", "internal");
        },
        () => ({ tasks: [{ taskArn: TASK_ARN, attachments: eni("10.0.0.1") }] }),
      );
    const backend = new FargateBackend({
      ecs: fake.client,
      cluster: "jobs",
      subnetIds: ["subnet-1"],
      securityGroupIds: ["sg-1"],
      assignPublicIp: false,
      taskDefinitions: { resolve: async () => DEFINITION, invalidate: () => {} },
      logger: logger as never,
      sleep: async () => {},
    });
    const secret = "0123456789abcdef-very-secret-agent-key";
    await backend.startTask(request({ agentSecret: secret }));
    expect(lines.length).toBeGreaterThanOrEqual(3); // fallback, describe failure, started
    expect(JSON.stringify(lines)).not.toContain(secret);
  });
});

describe("fargate backend: helper image (fake ECS)", () => {
  it("runs the deployed helper image of the job's architecture, not the driver's default", async () => {
    const fake = new FakeEcs()
      .on("ListTasks", () => ({ taskArns: [] }))
      .on("RunTask", () => ({ tasks: [{ taskArn: TASK_ARN, attachments: eni("10.0.0.1") }] }));
    const resolvedShapes: unknown[] = [];
    const backend = new FargateBackend({
      ecs: fake.client,
      cluster: "jobs",
      subnetIds: ["subnet-1"],
      securityGroupIds: ["sg-1"],
      assignPublicIp: false,
      taskDefinitions: {
        resolve: async (shape) => {
          resolvedShapes.push(shape);
          return DEFINITION;
        },
        invalidate: () => {},
      },
      helperImageFor: (architecture) => (architecture === "arm64" ? "ecr/helper:arm64" : undefined),
    });
    const req = request();
    await backend.startTask({ ...req, shape: { ...req.shape, architecture: "arm64" } });
    await backend.startTask(req);
    expect(resolvedShapes).toMatchObject([{ helperImage: "ecr/helper:arm64" }, { helperImage: "helper:1" }]);
  });
});

describe("fargate backend: task state and stopping (fake ECS)", () => {
  it("maps a Spot interruption to a plain stopped reason", async () => {
    const h = harness((fake) =>
      fake.on("DescribeTasks", () => ({
        tasks: [
          {
            taskArn: TASK_ARN,
            lastStatus: "STOPPED",
            desiredStatus: "STOPPED",
            stopCode: "SpotInterruption",
            stoppedReason: "Your Spot Task was interrupted.",
            containers: [{ name: "build", exitCode: 143 }],
          },
        ],
      })),
    );
    expect(await h.backend.describeTask(TASK_ARN)).toEqual({
      state: "stopped",
      reason: expect.stringMatching(/^AWS reclaimed the Fargate Spot capacity/),
      exitCode: 143,
    });
  });

  it("treats a task ECS no longer knows as stopped, and stopping it as done", async () => {
    const h = harness((fake) =>
      fake
        .on("DescribeTasks", () => ({ tasks: [], failures: [{ arn: TASK_ARN, reason: "MISSING" }] }))
        .on("StopTask", () => {
          throw awsError("InvalidParameterException", "The referenced task was not found.");
        }),
    );
    expect((await h.backend.describeTask(TASK_ARN)).state).toBe("stopped");
    await expect(h.backend.stopTask(TASK_ARN, "cleanup")).resolves.toBeUndefined();
  });

  it("raises when StopTask fails and ECS cannot say whether the task is gone", async () => {
    const h = harness((fake) =>
      fake
        .on("DescribeTasks", () => {
          throw awsError("ServerException", "internal");
        })
        .on("StopTask", () => {
          throw awsError("ServerException", "internal");
        }),
    );
    await expect(h.backend.stopTask(TASK_ARN, "cleanup")).rejects.toThrow(/could not stop job task/);
  });

  it("raises when a live task cannot be stopped", async () => {
    const h = harness((fake) =>
      fake
        .on("DescribeTasks", () => ({
          tasks: [{ taskArn: TASK_ARN, lastStatus: "RUNNING", desiredStatus: "RUNNING" }],
        }))
        .on("StopTask", () => {
          throw awsError("AccessDeniedException", "not authorized to perform ecs:StopTask");
        }),
    );
    await expect(h.backend.stopTask(TASK_ARN, "cleanup")).rejects.toThrow(
      /could not stop job task.*not authorized/,
    );
  });
});

describe("fargate backend: Managed Instances jobs (fake ECS)", () => {
  const managed = request({
    shape: {
      build: { name: "build", image: "docker:27" },
      services: [{ name: "svc-0", image: "docker:27-dind" }],
      architecture: "x86_64",
      helperImage: "helper:1",
      managedInstances: { privileged: true, gpus: 0 },
    },
    settings: {
      size: { cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 50 },
      capacity: "MANAGED_INSTANCES",
    },
  });

  it("runs on the deployment's Managed Instances capacity provider, without a Spot fallback", async () => {
    const h = harness(
      (fake) =>
        fake.on("RunTask", () => ({
          tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING", attachments: eni("10.0.0.5") }],
        })),
      { managedInstancesCapacityProvider: "sgr-managed-instances" },
    );
    const started = await h.backend.startTask(managed);
    expect(started.endpoint.host).toBe("10.0.0.5");
    expect(h.fake.callsOf("RunTask").map((r) => r.capacityProviderStrategy)).toEqual([
      [{ capacityProvider: "sgr-managed-instances", weight: 1 }],
    ]);
    // Its interface has a private address only (priced without one); the job goes out through the subnets' NAT.
    expect(started.publicIpv4).toBe(false);
    expect(h.fake.callsOf("RunTask")[0]).toMatchObject({
      networkConfiguration: { awsvpcConfiguration: { assignPublicIp: "DISABLED" } },
    });
  });

  it("runs a GPU job on the GPU instances' capacity provider", async () => {
    const h = harness(
      (fake) =>
        fake.on("RunTask", () => ({
          tasks: [{ taskArn: TASK_ARN, lastStatus: "PROVISIONING", attachments: eni("10.0.0.6") }],
        })),
      { managedInstancesCapacityProvider: "general", managedInstancesGpuCapacityProvider: "gpu" },
    );
    const gpuJob = {
      ...managed,
      shape: { ...managed.shape, managedInstances: { privileged: false, gpus: 1 } },
    };
    await h.backend.startTask(gpuJob);
    expect(h.fake.callsOf("RunTask")[0]?.capacityProviderStrategy).toEqual([
      { capacityProvider: "gpu", weight: 1 },
    ]);
    const none = harness(() => {}, { managedInstancesCapacityProvider: "general" });
    await expect(none.backend.startTask(gpuJob)).rejects.toThrow(/with GPUs.*managedInstances\.gpu option/);
  });

  it("sends no ephemeral storage override (the instance's task volume holds the job)", () => {
    const overrides = jobTaskOverrides(managed);
    expect(overrides.ephemeralStorage).toBeUndefined();
    expect(overrides).toMatchObject({ cpu: "2048", memory: "4096" });
  });

  it("fails clearly when the deployment has no Managed Instances capacity provider", async () => {
    const h = harness(() => {});
    const failure = await h.backend.startTask(managed).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(FargateBackendError);
    expect((failure as Error).message).toMatch(
      /needs ECS Managed Instances, but this deployment has no such capacity provider/,
    );
    expect(h.fake.callsOf("RunTask")).toHaveLength(0);
  });
});
