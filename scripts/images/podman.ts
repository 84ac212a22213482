/** podman and buildah calls with the project's container settings (scripts/containers/env.ts). */
import { spawn } from "node:child_process";
import { withContainerEnv } from "../containers/env.js";

export interface RunOptions {
  cwd?: string;
  /** Stream the command's output to this process's stderr (the CLI) instead of keeping it for the error. */
  verbose?: boolean;
  env?: Record<string, string>;
}

/** Runs a command to completion; resolves with its stdout, rejects with its output when it fails. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: withContainerEnv({ ...process.env, ...options.env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
      if (options.verbose) process.stderr.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (options.verbose) process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout.trim());
      else {
        const tail = output.trim().split("\n").slice(-40).join("\n");
        reject(new Error(`${command} ${args.slice(0, 3).join(" ")} … exited with ${code}:\n${tail}`));
      }
    });
  });
}

export const podman = (args: readonly string[], options?: RunOptions) => run("podman", args, options);
