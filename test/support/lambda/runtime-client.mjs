/**
 * A Node runtime interface client for the Lambda Runtime API, run by aws-lambda-rie as the function's bootstrap:
 * it loads the handler named by _HANDLER from LAMBDA_TASK_ROOT (as the nodejs runtime does: `index.handler` →
 * index.mjs, export `handler`), then loops: next invocation → handler(event, context) → response or error.
 * Plain JavaScript so that the emulator can start it with node alone, without a TypeScript loader.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;

function errorBody(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: error.name || "Error",
    errorMessage: error.message,
    stackTrace: (error.stack ?? "").split("\n").slice(1),
  };
}

async function post(path, body, errorType) {
  const headers = { "content-type": "application/json" };
  if (errorType) headers["lambda-runtime-function-error-type"] = errorType;
  await fetch(`${api}${path}`, { method: "POST", headers, body: JSON.stringify(body ?? null) });
}

async function loadHandler() {
  const spec = process.env._HANDLER ?? "index.handler";
  const dot = spec.lastIndexOf(".");
  const [file, name] = [spec.slice(0, dot), spec.slice(dot + 1)];
  const root = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const path = [".mjs", ".js", ".cjs"].map((ext) => join(root, `${file}${ext}`)).find((p) => existsSync(p));
  if (!path)
    throw Object.assign(new Error(`Cannot find module '${file}'`), { name: "Runtime.ImportModuleError" });
  const module = await import(pathToFileURL(path).href);
  const handler = module[name];
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), {
      name: "Runtime.HandlerNotFound",
    });
  }
  return handler;
}

function contextFor(headers) {
  const deadline = Number(headers.get("lambda-runtime-deadline-ms"));
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME ?? "function";
  return {
    awsRequestId: headers.get("lambda-runtime-aws-request-id"),
    invokedFunctionArn: headers.get("lambda-runtime-invoked-function-arn"),
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION ?? "$LATEST",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128",
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${name}`,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? "local",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function loop(handler) {
  for (;;) {
    const next = await fetch(`${api}/invocation/next`);
    const id = next.headers.get("lambda-runtime-aws-request-id");
    const traceId = next.headers.get("lambda-runtime-trace-id");
    if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
    else delete process.env._X_AMZN_TRACE_ID;
    try {
      const event = await next.json();
      const result = await handler(event, contextFor(next.headers));
      await post(`/invocation/${id}/response`, result);
    } catch (err) {
      const body = errorBody(err);
      console.error(JSON.stringify({ level: "ERROR", message: "Invoke Error", ...body }));
      await post(`/invocation/${id}/error`, body, `Runtime.${body.errorType}`);
    }
  }
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  const body = errorBody(err);
  console.error(JSON.stringify({ level: "ERROR", message: "Init Error", ...body }));
  await post("/init/error", body, body.errorType);
  process.exit(1);
}
await loop(handler);
