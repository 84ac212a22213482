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
        /essential container 'build' exited with code 127 \(command not found: the job image needs a POSIX shell/,
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
