/**
 * Every Lambda function of the product: where its handler lives. The CDK app and the local bundler
 * (scripts/bundle.ts) both read this list, so a function is bundled the same way everywhere.
 */
export const FUNCTIONS = {
  /** GitLab webhook (Function URL) → verified, normalised job events on the bus. */
  webhook: "src/webhook/handler.ts",
  /** Pending job event → exactly one runner manager per runner configuration. */
  "scale-up": "src/control-plane/handlers/scale-up.ts",
  /** Every job status change → job records (for the reconciler) and queue-to-start metrics. */
  "job-status": "src/control-plane/handlers/job-status.ts",
  /** Schedule → idle stop, missed-webhook reconcile, crashed/over-age managers, janitor. */
  scheduler: "src/control-plane/handlers/scheduler.ts",
} as const;
export type FunctionName = keyof typeof FUNCTIONS;

/** Lambda runtime the tests pin Node to (package.json engines, node@24). */
export const LAMBDA_NODE_MAJOR = 24;

/** esbuild settings shared by CDK bundling and scripts/bundle.ts: one ESM file per function, minified. */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: `node${LAMBDA_NODE_MAJOR}`,
  minify: true,
  sourcemap: true,
  treeShaking: true,
  mainFields: ["module", "main"],
  // ESM bundles of CommonJS dependencies need a require(); this is the documented esbuild shim.
  banner:
    "import { createRequire as __sgrCreateRequire } from 'module'; const require = __sgrCreateRequire(import.meta.url);",
} as const;
