#!/usr/bin/env node
/** Process entry of `sgr`: real streams, real environment, and the exit code runCli answers. */
import { runCli } from "./main.js";

const tty =
  process.stdin.isTTY && process.stderr.isTTY ? { input: process.stdin, output: process.stderr } : undefined;
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  tty,
});
