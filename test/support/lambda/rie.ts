/**
 * Runs a Lambda bundle as Lambda does, under the AWS Lambda Runtime Interface Emulator: the Runtime API, the
 * function's timeout, its memory (as the nodejs runtime sizes V8's heap from it) and one invocation at a time
 * per execution environment. Concurrent invocations get more environments, up to a concurrency limit, as Lambda
 * scales; a cold start is a new environment.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireTool } from "../tools.js";

const RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d";
const runtimeClient = join(dirname(fileURLToPath(import.meta.url)), "runtime-client.mjs");

export interface LambdaSpec {
  /** Function name (AWS_LAMBDA_FUNCTION_NAME). */
  name: string;
  /** Directory holding the bundle (LAMBDA_TASK_ROOT). */
  taskRoot: string;
  /** `file.export`, as in the function's Handler property. @default "index.handler" */
  handler?: string;
  /** @default 30 */
  timeoutSeconds?: number;
  /** @default 128 */
  memoryMiB?: number;
  /** The function's environment variables. */
  environment?: Record<string, string>;
  /** Most environments at once (reserved concurrency); more invocations wait for one. @default 10 */
  maxConcurrency?: number;
}

/** What Lambda returns for an invocation: the payload, or the function error. */
export interface InvokeResult {
  payload: unknown;
  /** Set for a function error ("Unhandled", or a timeout). */
  functionError?: string;
}

interface Environment {
  address: string;
  child: ChildProcess;
  busy: boolean;
}

export interface LocalLambda {
  readonly name: string;
  invoke(event: unknown): Promise<InvokeResult>;
  /** Environments started so far (each one a cold start). */
  readonly coldStarts: number;
  /** The last lines the environments printed (logs), newest last. */
  logs(): string[];
  stop(): Promise<void>;
}

async function freeAddress(): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(`127.0.0.1:${address.port}`)
          : reject(new Error("no port")),
      );
    });
  });
}

/** The heap the nodejs runtime gives V8 for a memory size (about 90 % of it). */
function heapMiB(memoryMiB: number): number {
  return Math.floor(memoryMiB * 0.9);
}

export function startLambda(spec: LambdaSpec): LocalLambda {
  const rie = requireTool(`aws-lambda-rie/${RIE_VERSION}/aws-lambda-rie`, "aws-lambda-rie");
  const memory = spec.memoryMiB ?? 128;
  const maxConcurrency = spec.maxConcurrency ?? 10;
  const environments: Environment[] = [];
  const waiters: Array<() => void> = [];
  const logLines: string[] = [];
  let coldStarts = 0;
  let starting = 0;
  let stopped = false;

  async function startEnvironment(): Promise<Environment> {
    const address = await freeAddress();
    const runtimeApi = await freeAddress();
    const child = spawn(
      rie,
      [
        "--runtime-interface-emulator-address",
        address,
        "--runtime-api-address",
        runtimeApi,
        "--log-level",
        "error",
        process.execPath,
        `--max-old-space-size=${heapMiB(memory)}`,
        "--enable-source-maps",
        runtimeClient,
      ],
      {
        cwd: spec.taskRoot,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...spec.environment,
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          AWS_REGION: spec.environment?.AWS_REGION ?? process.env.AWS_REGION ?? "us-east-1",
          AWS_LAMBDA_FUNCTION_NAME: spec.name,
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory),
          AWS_LAMBDA_FUNCTION_TIMEOUT: String(spec.timeoutSeconds ?? 30),
          AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
          LAMBDA_TASK_ROOT: spec.taskRoot,
          _HANDLER: spec.handler ?? "index.handler",
        },
      },
    );
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(line);
      logLines.splice(0, Math.max(0, logLines.length - 500));
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    coldStarts++;
    const env: Environment = { address, child, busy: true };
    environments.push(env);
    child.once("exit", () => environments.splice(environments.indexOf(env), 1));
    await waitForListener(address, child);
    return env;
  }

  async function acquire(): Promise<Environment> {
    for (;;) {
      if (stopped) throw new Error(`${spec.name} is stopped`);
      const idle = environments.find((e) => !e.busy && e.child.exitCode === null);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (environments.length + starting < maxConcurrency) {
        starting++;
        try {
          return await startEnvironment();
        } finally {
          starting--;
        }
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }

  function release(env: Environment): void {
    env.busy = false;
    waiters.shift()?.();
  }

  return {
    name: spec.name,
    get coldStarts() {
      return coldStarts;
    },
    logs: () => [...logLines],
    async invoke(event) {
      const env = await acquire();
      try {
        const res = await fetch(`http://${env.address}/2015-03-31/functions/function/invocations`, {
          method: "POST",
          body: JSON.stringify(event),
        });
        return resultOf(res, await res.text());
      } finally {
        release(env);
      }
    },
    async stop() {
      stopped = true;
      for (const waiter of waiters.splice(0)) waiter();
      await Promise.all(environments.map((env) => stopEnvironment(env.child)));
    },
  };
}

/**
 * The emulator marks no function error in a header: an error payload has Lambda's errorType/errorMessage shape,
 * and a timeout comes back as plain text, which Lambda reports as an Unhandled error with that message.
 */
function resultOf(res: Response, text: string): InvokeResult {
  let payload: unknown = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    return {
      payload: { errorType: "Sandbox.Timedout", errorMessage: text.trim() },
      functionError: "Unhandled",
    };
  }
  const header = res.headers.get("x-amz-function-error");
  if (header) return { payload, functionError: header };
  if (payload && typeof payload === "object" && "errorType" in payload && "errorMessage" in payload) {
    return { payload, functionError: "Unhandled" };
  }
  return { payload };
}

async function waitForListener(address: string, child: ChildProcess): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (child.exitCode !== null) throw new Error(`aws-lambda-rie exited with ${child.exitCode}`);
    try {
      await fetch(`http://${address}/`, { signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`aws-lambda-rie did not listen on ${address}`);
}

function stopEnvironment(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill("SIGKILL"), 3_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
