import { describe, expect, it } from "vitest";
import { exitCodesFrom } from "./exit-codes.js";
import { routeStage } from "./stage-routing.js";

describe("stage routing", () => {
  it.each([
    "get_sources",
    "clear_worktree",
    "restore_cache",
    "download_artifacts",
    "archive_cache",
    "archive_cache_on_failure",
    "upload_artifacts_on_success",
    "upload_artifacts_on_failure",
    "cleanup_file_variables",
  ])("runs %s in the helper container", (stage) => {
    expect(routeStage(stage)).toEqual({ target: "helper", known: true });
  });

  it.each(["build_script", "step_script", "step_release", "after_script"])(
    "runs %s in the user's image",
    (stage) => {
      expect(routeStage(stage)).toEqual({ target: "build", known: true });
    },
  );

  it("runs prepare_script in the user's image", () => {
    expect(routeStage("prepare_script")).toMatchObject({ target: "build", known: true });
  });

  it("sends unknown stages to the helper and flags them", () => {
    expect(routeStage("upload_reports")).toEqual({ target: "helper", known: false });
    expect(routeStage("step_")).toMatchObject({ known: false });
  });
});

describe("exit codes", () => {
  it("comes from gitlab-runner's environment", () => {
    expect(
      exitCodesFrom({
        BUILD_FAILURE_EXIT_CODE: "7",
        SYSTEM_FAILURE_EXIT_CODE: "8",
        BUILD_EXIT_CODE_FILE: "/t/x",
      }),
    ).toEqual({ buildFailure: 7, systemFailure: 8, buildExitCodeFile: "/t/x" });
  });
  it("falls back to the protocol's current values when missing or garbled", () => {
    expect(exitCodesFrom({ BUILD_FAILURE_EXIT_CODE: "x" })).toEqual({
      buildFailure: 1,
      systemFailure: 2,
      buildExitCodeFile: undefined,
    });
  });
});
