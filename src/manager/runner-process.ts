/** Starts `gitlab-runner run` as a child whose output goes straight to the container's log. */
import { spawn } from "node:child_process";
import type { ChildExit, RunnerProcess } from "./runner-child.js";
import { RUNNER_TOKEN_ENV } from "./settings.js";

export interface RunnerCommand {
  binary: string;
  configPath: string;
  workingDirectory: string;
  env: NodeJS.ProcessEnv;
}

/** The arguments, separate so a test can check them without starting anything. */
export function runnerArgs(command: Pick<RunnerCommand, "configPath" | "workingDirectory">): string[] {
  return ["run", "--config", command.configPath, "--working-directory", command.workingDirectory];
}

export function startRunnerProcess(command: RunnerCommand): RunnerProcess {
  // The token is in config.toml; the runner and every driver process it starts need no copy in their environment.
  const env = { ...command.env };
  delete env[RUNNER_TOKEN_ENV];
  const child = spawn(command.binary, runnerArgs(command), {
    env,
    stdio: "inherit",
    // Own process group: a signal meant for the manager's group (a terminal's Ctrl-C, an init forwarding to the
    // group) must not reach gitlab-runner as SIGINT/SIGTERM, which would abort jobs. Only the manager signals it.
    detached: true,
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    // spawn failures (binary missing) arrive as 'error' without 'exit'.
    child.once("error", (err) => {
      process.stderr.write(`cannot start ${command.binary}: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
  });
  return {
    signal(sig) {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    exited,
  };
}
