/**
 * Keeps a passing test run quiet: the structured log lines (Powertools JSON) and metric lines (EMF) that code
 * under test writes straight to stdout/stderr are held back per test, and written out only when that test fails,
 * so negative tests ("delivery refused") do not fill a green run with alarming WARN lines.
 */
import { beforeEach } from "vitest";

/** A Powertools log line or an embedded-metric-format document, as the loggers write them (one per write). */
const STRUCTURED_LINE = /^\{"level":|^\{.*"_aws":\{"Timestamp":/;

type Write = (chunk: unknown, ...rest: unknown[]) => boolean;
let held: { write: Write; text: string }[] = [];

for (const stream of [process.stdout, process.stderr]) {
  const original = stream.write.bind(stream) as Write;
  stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
    if (!STRUCTURED_LINE.test(text)) return original(chunk, ...rest);
    held.push({ write: original, text });
    const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof stream.write;
}

beforeEach((context) => {
  held = [];
  context.onTestFailed(() => {
    for (const { write, text } of held) write(text);
    held = [];
  });
});
