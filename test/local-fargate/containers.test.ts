/**
 * Containers of a task as Fargate runs them. References: ECS API Reference, ContainerDefinition (entryPoint,
 * command, workingDirectory, user, environment, secrets, essential, dependsOn, healthCheck, stopTimeout,
 * readonlyRootFilesystem, linuxParameters.capabilities, logConfiguration), TaskDefinition (pidMode, volumes),
 * ContainerOverride; ECS Developer Guide, "Amazon ECS task metadata endpoint version 4", "Fargate task storage".
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { StopTaskCommand } from "@aws-sdk/client-ecs";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withContainerEnv } from "../../scripts/containers/env.js";
import { startTestbed, type Testbed } from "./testbed.js";

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => bed?.close());

const sh = (script: string) => ({ entryPoint: ["/bin/sh", "-c"], command: [script] });

async function runToEnd(td: string, extra = {}) {
  const task = await bed.run(td, extra);
  return bed.until(task.taskArn!, "STOPPED");
}

describe("container settings", () => {
  it("runs entryPoint and command with workingDirectory, user and environment; overrides replace command and add environment", async () => {
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        entryPoint: ["/bin/sh", "-c"],
        command: ["echo default"],
        workingDirectory: "/tmp",
        user: "4321:4321",
        environment: [
          { name: "FROM_DEFINITION", value: "one" },
          { name: "REPLACED", value: "old" },
          // variables podman itself reads reach the container too, without disturbing podman
          { name: "HOME", value: "/home/job" },
          { name: "PATH", value: "/bin:/usr/bin" },
        ],
      },
    ]);
    const stopped = await runToEnd(td, {
      overrides: {
        containerOverrides: [
          {
            name: "main",
            command: [
              'echo "$(id -u):$(id -g) $(pwd) $FROM_DEFINITION $REPLACED $ADDED $AWS_EXECUTION_ENV $HOME $PATH"',
            ],
            environment: [
              { name: "REPLACED", value: "new" },
              { name: "ADDED", value: "two" },
            ],
          },
        ],
      },
    });
    expect(stopped.containers?.[0]?.exitCode).toBe(0);
    expect(await bed.logLines(stopped.taskArn!, "main")).toEqual([
      "4321:4321 /tmp one new two AWS_ECS_FARGATE /home/job /bin:/usr/bin",
    ]);
  });

  it("uses the image's own ENTRYPOINT, USER and WORKDIR when the definition sets none", async () => {
    const td = await bed.register([
      { name: "main", image: bed.images.configured, command: ["with-command"] },
    ]);
    const stopped = await runToEnd(td);
    expect(await bed.logLines(stopped.taskArn!, "main")).toEqual(["from-entrypoint with-command"]);
  });

  it("resolves secrets from SSM (SecureString) and Secrets Manager (whole and by JSON key) into the environment", async () => {
    const client = { endpoint: bed.fargate.endpoint, region: "us-east-1" };
    const ssm = new SSMClient(client);
    const secrets = new SecretsManagerClient(client);
    const parameter = `/lf/${bed.unique("param")}`;
    await ssm.send(new PutParameterCommand({ Name: parameter, Value: "from-ssm", Type: "SecureString" }));
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: bed.unique("secret"),
        SecretString: JSON.stringify({ user: "u1", pass: "p1" }),
      }),
    );
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh('echo "$A|$B|$C"'),
        secrets: [
          { name: "A", valueFrom: parameter },
          { name: "B", valueFrom: `${secret.ARN}:pass::` },
          { name: "C", valueFrom: secret.ARN! },
        ],
      },
    ]);
    const stopped = await runToEnd(td);
    expect(await bed.logLines(stopped.taskArn!, "main")).toEqual(['from-ssm|p1|{"user":"u1","pass":"p1"}']);

    const missing = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh("true"),
        secrets: [{ name: "A", valueFrom: "/lf/none" }],
      },
    ]);
    const failed = await runToEnd(missing);
    expect(failed.stopCode).toBe("TaskFailedToStart");
    expect(failed.stoppedReason).toMatch(
      /^ResourceInitializationError: unable to pull secrets or registry auth: .*\/lf\/none/,
    );
    ssm.destroy();
    secrets.destroy();
  });

  it("reads environmentFiles (S3, definition and override) before the start; environment wins over them", async () => {
    const s3 = new S3Client({ endpoint: bed.fargate.endpoint, region: "us-east-1", forcePathStyle: true });
    const bucket = bed.unique("envfiles").toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const put = (key: string, body: string) =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    await put("one.env", "# a comment\nA=from-file\nB=from-file\n\n");
    await put("two.env", "B=from-second-file\nC=also=equals\n");
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh('echo "$A|$B|$C|$D"'),
        environmentFiles: [{ type: "s3", value: `arn:aws:s3:::${bucket}/one.env` }],
        environment: [{ name: "D", value: "from-environment" }],
      },
    ]);
    const stopped = await runToEnd(td, {
      overrides: {
        containerOverrides: [
          { name: "main", environmentFiles: [{ type: "s3", value: `arn:aws:s3:::${bucket}/two.env` }] },
        ],
      },
    });
    expect(await bed.logLines(stopped.taskArn!, "main")).toEqual([
      "from-file|from-second-file|also=equals|from-environment",
    ]);
    // DescribeTasks shows where the file is, never what it holds.
    expect(JSON.stringify(stopped)).not.toContain("from-second-file");

    const failed = await runToEnd(td, {
      overrides: {
        containerOverrides: [
          { name: "main", environmentFiles: [{ type: "s3", value: `arn:aws:s3:::${bucket}/missing.env` }] },
        ],
      },
    });
    expect(failed.stopCode).toBe("TaskFailedToStart");
    expect(failed.stoppedReason).toMatch(
      /^ResourceInitializationError: failed to download env files: .*missing\.env/,
    );
    s3.destroy();
  });

  it("fails to start when the awslogs group does not exist (no awslogs-create-group)", async () => {
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh("true"),
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": "/lf/absent",
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "lf",
          },
        },
      },
    ]);
    const stopped = await runToEnd(td);
    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toContain("The specified log group does not exist");
  });

  it("a non-essential container's exit leaves the task running; an essential one's stops it, each with its exit code", async () => {
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, ...sh("sleep 1; exit 3") },
      { name: "side", image: bed.images.busybox, essential: false, ...sh("exit 5") },
    ]);
    const stopped = await runToEnd(td);
    const byName = Object.fromEntries((stopped.containers ?? []).map((c) => [c.name, c]));
    expect(byName.side?.exitCode).toBe(5);
    expect(byName.main?.exitCode).toBe(3);
    expect(stopped.stopCode).toBe("EssentialContainerExited");
    // the side container exited first, yet the task ran until main did
    const events = bed.fargate.events().filter((e) => e.detail.taskArn === stopped.taskArn);
    const firstDesiredStop = events.findIndex((e) => e.detail.desiredStatus === "STOPPED");
    const sideExited = events.findIndex((e) =>
      (e.detail.containers as { name: string; exitCode?: number }[]).some(
        (c) => c.name === "side" && c.exitCode === 5,
      ),
    );
    expect(sideExited).toBeGreaterThanOrEqual(0);
    expect(sideExited).toBeLessThan(firstDesiredStop);
  });

  it("dependsOn: COMPLETE and SUCCESS wait for the dependency to exit; a failed SUCCESS dependency keeps the task from starting", async () => {
    const ok = await bed.register(
      [
        {
          name: "init",
          image: bed.images.busybox,
          essential: false,
          ...sh("echo seeded > /data/seed"),
          mountPoints: [{ sourceVolume: "data", containerPath: "/data" }],
        },
        {
          name: "main",
          image: bed.images.busybox,
          ...sh("cat /data/seed"),
          mountPoints: [{ sourceVolume: "data", containerPath: "/data" }],
          dependsOn: [{ containerName: "init", condition: "SUCCESS" }],
        },
      ],
      { volumes: [{ name: "data" }] },
    );
    const failing = await bed.register([
      { name: "init", image: bed.images.busybox, essential: false, ...sh("exit 1") },
      {
        name: "main",
        image: bed.images.busybox,
        ...sh("echo never"),
        dependsOn: [{ containerName: "init", condition: "SUCCESS" }],
      },
    ]);
    const complete = await bed.register([
      { name: "init", image: bed.images.busybox, essential: false, ...sh("exit 1") },
      {
        name: "main",
        image: bed.images.busybox,
        ...sh("echo after-init"),
        dependsOn: [{ containerName: "init", condition: "COMPLETE" }],
      },
    ]);
    const [a, b, c] = await Promise.all([runToEnd(ok), runToEnd(failing), runToEnd(complete)]);
    expect(await bed.logLines(a.taskArn!, "main")).toEqual(["seeded"]);
    expect(b.stopCode).toBe("TaskFailedToStart");
    expect(b.containers?.find((x) => x.name === "main")?.exitCode).toBeUndefined();
    expect(await bed.logLines(c.taskArn!, "main")).toEqual(["after-init"]);
  });

  it("healthCheck makes the container and the task HEALTHY; dependsOn HEALTHY waits for it", async () => {
    const td = await bed.register([
      {
        name: "db",
        image: bed.images.busybox,
        essential: false,
        stopTimeout: 1,
        ...sh("touch /tmp/ready; sleep 30"),
        healthCheck: { command: ["CMD-SHELL", "test -f /tmp/ready"], interval: 5, timeout: 2, retries: 1 },
      },
      {
        name: "main",
        image: bed.images.busybox,
        stopTimeout: 1,
        ...sh("echo db-is-healthy; sleep 30"),
        dependsOn: [{ containerName: "db", condition: "HEALTHY" }],
      },
    ]);
    const task = await bed.run(td);
    await bed.logged(task.taskArn!, "main", "db-is-healthy");
    const running = await bed.describe(task.taskArn!);
    expect(running.containers?.find((c) => c.name === "db")?.healthStatus).toBe("HEALTHY");
    expect(running.healthStatus).toBe("UNKNOWN"); // only essential containers' checks count for the task
    await bed.ecs.send(new StopTaskCommand({ cluster: bed.cluster, task: task.taskArn }));
    await bed.until(task.taskArn!, "STOPPED");
  });

  it("StopTask sends SIGTERM, then SIGKILL after stopTimeout", async () => {
    const td = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...sh('trap "" TERM; echo ignoring; while true; do sleep 1; done'),
        stopTimeout: 2,
      },
    ]);
    const task = await bed.run(td);
    await bed.logged(task.taskArn!, "main", "ignoring");
    const asked = Date.now();
    await bed.ecs.send(new StopTaskCommand({ cluster: bed.cluster, task: task.taskArn, reason: "test" }));
    const stopped = await bed.until(task.taskArn!, "STOPPED");
    expect(stopped.containers?.[0]?.exitCode).toBe(137);
    expect(stopped.containers?.[0]?.reason).toBeUndefined();
    expect(stopped.executionStoppedAt!.getTime() - asked).toBeGreaterThanOrEqual(2000);
  });

  it("pidMode task shares one PID namespace between the containers; without it each has its own", async () => {
    // Both stay up a while: a namespace's inode number is reused once it is gone, so two containers that never
    // overlapped could show the same number without sharing anything.
    const containers = [
      {
        name: "one",
        image: bed.images.busybox,
        essential: false,
        ...sh("readlink /proc/self/ns/pid; sleep 3"),
      },
      { name: "two", image: bed.images.busybox, ...sh("readlink /proc/self/ns/pid; sleep 3") },
    ];
    const shared = await bed.register(containers, { pidMode: "task" });
    const separate = await bed.register(containers);
    const [a, b] = await Promise.all([runToEnd(shared), runToEnd(separate)]);
    const namespaces = async (taskArn: string) => [
      ...(await bed.logLines(taskArn, "one")),
      ...(await bed.logLines(taskArn, "two")),
    ];
    const [a1, a2] = await namespaces(a.taskArn!);
    const [b1, b2] = await namespaces(b.taskArn!);
    expect(a1).toMatch(/^pid:\[\d+\]$/);
    expect(a1).toBe(a2);
    expect(b1).toMatch(/^pid:\[\d+\]$/);
    expect(b1).not.toBe(b2);
  });

  it("readonlyRootFilesystem refuses writes to the image, not to a task volume", async () => {
    const td = await bed.register(
      [
        {
          name: "main",
          image: bed.images.busybox,
          readonlyRootFilesystem: true,
          mountPoints: [{ sourceVolume: "scratch", containerPath: "/scratch" }],
          ...sh(
            "touch /root-file 2>/dev/null && echo root-writable || echo root-read-only; touch /scratch/f && echo volume-writable",
          ),
        },
      ],
      { volumes: [{ name: "scratch" }] },
    );
    const stopped = await runToEnd(td);
    expect(await bed.logLines(stopped.taskArn!, "main")).toEqual(["root-read-only", "volume-writable"]);
  });

  it("gives Docker's default capabilities, SYS_PTRACE when added, and a seccomp filter", async () => {
    const show = sh("grep -E '^(CapEff|Seccomp):' /proc/self/status");
    const plain = await bed.register([{ name: "main", image: bed.images.busybox, ...show }]);
    const ptrace = await bed.register([
      {
        name: "main",
        image: bed.images.busybox,
        ...show,
        linuxParameters: { capabilities: { add: ["SYS_PTRACE"], drop: ["NET_RAW"] } },
      },
    ]);
    const [a, b] = await Promise.all([runToEnd(plain), runToEnd(ptrace)]);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(await bed.logLines(a.taskArn!, "main")).toEqual(["CapEff:\t00000000a80425fb", "Seccomp:\t2"]);
    // + SYS_PTRACE (bit 19) − NET_RAW (bit 13)
    expect(await bed.logLines(b.taskArn!, "main")).toEqual(["CapEff:\t00000000a80c05fb", "Seccomp:\t2"]);
  });

  it("applies Docker's default seccomp profile, which refuses a new user namespace without SYS_ADMIN", async () => {
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, ...sh("unshare -U true 2>&1 || echo refused") },
    ]);
    const stopped = await runToEnd(td);
    expect((await bed.logLines(stopped.taskArn!, "main")).at(-1)).toBe("refused");
  });

  it("limits the task's cgroup to its cpu and memory (after overrides)", async () => {
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, stopTimeout: 1, ...sh("echo up; sleep 30") },
    ]);
    const task = await bed.run(td, { overrides: { cpu: "512", memory: "1024" } });
    expect(task.cpu).toBe("512");
    expect(task.memory).toBe("1024");
    await bed.logged(task.taskArn!, "main", "up");
    const pod = `lf-${bed.fargate.instance}-${task.taskArn!.split("/").pop()!.slice(0, 12)}`;
    const cgroup = execFileSync("podman", ["pod", "inspect", pod, "--format", "{{.CgroupPath}}"], {
      env: withContainerEnv(),
      encoding: "utf8",
    }).trim();
    expect(readFileSync(`/sys/fs/cgroup/memory${cgroup}/memory.limit_in_bytes`, "utf8").trim()).toBe(
      String(1024 * 1024 * 1024),
    );
    expect(readFileSync(`/sys/fs/cgroup/cpu${cgroup}/cpu.cfs_quota_us`, "utf8").trim()).toBe("50000");
    await bed.ecs.send(new StopTaskCommand({ cluster: bed.cluster, task: task.taskArn }));
    await bed.until(task.taskArn!, "STOPPED");
  });

  it("serves the task metadata endpoint v4 to the containers", async () => {
    const td = await bed.register([
      { name: "main", image: bed.images.busybox, ...sh('wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task"') },
    ]);
    const stopped = await runToEnd(td);
    const doc = JSON.parse((await bed.logLines(stopped.taskArn!, "main")).join("\n")) as Record<
      string,
      unknown
    >;
    expect(doc.TaskARN).toBe(stopped.taskArn);
    expect(doc.LaunchType).toBe("FARGATE");
  });

  it("serves the task role's credentials where the SDKs look for them (AWS_CONTAINER_CREDENTIALS_FULL_URI)", async () => {
    const td = await bed.register(
      [{ name: "main", image: bed.images.busybox, ...sh('wget -qO- "$AWS_CONTAINER_CREDENTIALS_FULL_URI"') }],
      { taskRoleArn: "arn:aws:iam::123456789012:role/job" },
    );
    const stopped = await runToEnd(td);
    const doc = JSON.parse((await bed.logLines(stopped.taskArn!, "main")).join("\n")) as Record<
      string,
      unknown
    >;
    expect(doc).toMatchObject({
      AccessKeyId: expect.any(String),
      Token: expect.any(String),
      RoleArn: "arn:aws:iam::123456789012:role/job",
    });
    const without = await bed.register([
      { name: "main", image: bed.images.busybox, ...sh('echo "[$AWS_CONTAINER_CREDENTIALS_FULL_URI]"') },
    ]);
    expect(await bed.logLines((await runToEnd(without)).taskArn!, "main")).toEqual(["[]"]);
  });
});
