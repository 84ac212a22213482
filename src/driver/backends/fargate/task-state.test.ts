/** ECS task → TaskState, through statuses and stop reasons moto never produces. */
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { taskStateOf } from "./task-state.js";

const stopped = (task: Partial<Task>): Task => ({ lastStatus: "STOPPED", desiredStatus: "STOPPED", ...task });

describe("taskStateOf", () => {
  it("maps the ECS lifecycle to starting / running / stopped", () => {
    for (const lastStatus of ["PROVISIONING", "PENDING", "ACTIVATING"]) {
      expect(taskStateOf({ lastStatus, desiredStatus: "RUNNING" })).toEqual({ state: "starting" });
    }
    expect(taskStateOf({ lastStatus: "RUNNING", desiredStatus: "RUNNING" })).toEqual({ state: "running" });
    // A stop was decided: the task is going down even while ECS still reports it RUNNING.
    expect(
      taskStateOf({ lastStatus: "RUNNING", desiredStatus: "STOPPED", stoppedReason: "Task stopped by user" }),
    ).toEqual({
      state: "stopped",
      reason: "the job task was stopped: Task stopped by user",
    });
    expect(taskStateOf(undefined)).toMatchObject({
      state: "stopped",
      reason: expect.stringMatching(/no longer exists/),
    });
  });

  it("says why in plain words", () => {
    const cases: [Partial<Task>, RegExp][] = [
      [{ stopCode: "SpotInterruption" }, /Spot interruption/],
      [
        {
          stopCode: "TaskFailedToStart",
          stoppedReason: "CannotPullContainerError: ref pull has been retried",
        },
        /an image of the job could not be pulled: CannotPullContainerError/,
      ],
      [
        {
          stopCode: "TaskFailedToStart",
          stoppedReason: "ResourceInitializationError: unable to pull secrets",
        },
        /^the job task failed to start: ResourceInitializationError/,
      ],
      [
        {
          stopCode: "EssentialContainerExited",
          containers: [
            {
              name: "build",
              exitCode: 137,
              reason: "OutOfMemoryError: Container killed due to memory usage",
            },
          ],
        },
        /container 'build' ran out of memory \(OutOfMemoryError.*give the job more memory/,
      ],
      [
        {
          stopCode: "EssentialContainerExited",
          containers: [
            { name: "helper", exitCode: 0 },
            { name: "build", exitCode: 127 },
          ],
        },
        /^the job image '\?' has no POSIX shell \(sh\).*distroless.*docs\/limitations\.md/,
      ],
      [
        {
          stopCode: "EssentialContainerExited",
          stoppedReason: "Essential container in task exited",
          containers: [
            {
              name: "build",
              image: "gcr.example.com/distroless/static:nonroot",
              reason:
                'CannotStartContainerError: ResourceInitializationError: exec: "sh": executable file not found in $PATH',
            },
          ],
        },
        /^the job image 'gcr\.example\.com\/distroless\/static:nonroot' has no POSIX shell \(sh\)/,
      ],
      [
        {
          stopCode: "TaskFailedToStart",
          stoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
          containers: [
            {
              name: "build",
              image: "mcr.example.com/windows/servercore:ltsc2022",
              reason:
                'CannotPullContainerError: image operating system "windows" cannot be used on this platform',
            },
          ],
        },
        /^the image 'mcr\.example\.com\/windows\/servercore:ltsc2022' of container 'build' is a Windows image: job tasks run Linux containers only.*docs\/limitations\.md/,
      ],
      [
        {
          stopCode: "TaskFailedToStart",
          containers: [
            {
              name: "build",
              image: "tool:1",
              reason:
                "CannotPullContainerError: image Manifest does not contain descriptor matching platform 'linux/arm64/v8'",
            },
          ],
        },
        /^the image 'tool:1' of container 'build' has no Linux variant for this task's architecture.*Windows images are not supported.*SGR_ARCH/,
      ],
      [
        {
          stopCode: "EssentialContainerExited",
          containers: [{ name: "helper", exitCode: 2 }, { name: "build" }],
        },
        /essential container 'helper' exited with code 2$/,
      ],
      [
        {
          stopCode: "EssentialContainerExited",
          containers: [
            { name: "helper", exitCode: 1 },
            { name: "build", exitCode: 143 },
          ],
        },
        /essential container 'helper' exited with code 1$/,
      ],
      [
        {
          stopCode: "EssentialContainerExited",
          containers: [
            { name: "helper", exitCode: 143 },
            { name: "build", exitCode: 137 },
          ],
        },
        /essential container 'build' exited with code 137$/,
      ],
      [{}, /^the job task stopped$/],
    ];
    for (const [task, reason] of cases)
      expect(taskStateOf(stopped(task))).toMatchObject({ state: "stopped", reason });
  });

  it("carries the build container's exit code", () => {
    expect(taskStateOf(stopped({ containers: [{ name: "build", exitCode: 3 }] }))).toMatchObject({
      exitCode: 3,
    });
    expect(taskStateOf(stopped({ containers: [{ name: "helper", exitCode: 3 }] }))).not.toHaveProperty(
      "exitCode",
    );
  });
});
