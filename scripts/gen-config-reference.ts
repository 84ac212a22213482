/**
 * Writes docs/configuration.md from the one configuration schema (src/config/schema.ts): field paths, types,
 * defaults and limits come from the zod schema at run time, the descriptions from the JSDoc comments above each
 * field in the schema's source. `npx tsx scripts/gen-config-reference.ts` regenerates it;
 * test/cli/config-reference.test.ts fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as schemas from "../src/config/schema.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SCHEMA_SOURCE = join(ROOT, "src/config/schema.ts");
export const REFERENCE_PATH = join(ROOT, "docs/configuration.md");

/** JSDoc text per `<exported const>.<field path>`, read from the schema's source. */
export function fieldComments(sourceText: string): Map<string, string> {
  const source = ts.createSourceFile("schema.ts", sourceText, ts.ScriptTarget.Latest, true);
  const comments = new Map<string, string>();
  const visit = (node: ts.Node, root: string | undefined, path: string[]) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) {
      root = node.name.text;
      path = [];
    }
    if (
      ts.isPropertyAssignment(node) &&
      root &&
      (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name))
    ) {
      const fieldPath = [...path, node.name.text];
      const doc = ts
        .getJSDocCommentsAndTags(node)
        .filter(ts.isJSDoc)
        .map((d) => ts.getTextOfJSDocComment(d.comment) ?? "")
        .join(" ")
        .replace(/\s+/g, " ")
        .trim();
      if (doc) comments.set(`${root}.${fieldPath.join(".")}`, doc);
      const documentedDefault = ts.getJSDocTags(node).find((tag) => tag.tagName.text === "default");
      if (documentedDefault) {
        const text = ts.getTextOfJSDocComment(documentedDefault.comment)?.trim();
        if (text) comments.set(`${root}.${fieldPath.join(".")}@default`, text);
      }
      ts.forEachChild(node.initializer, (child) => visit(child, root, fieldPath));
      return;
    }
    ts.forEachChild(node, (child) => visit(child, root, path));
  };
  visit(source, undefined, []);
  return comments;
}

// Minimal view of zod v4's runtime definitions (the parts a reference needs).
interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string } };
  minValue?: number | null;
  maxValue?: number | null;
  minLength?: number | null;
}

interface Row {
  path: string;
  type: string;
  required: boolean;
  default: string;
  limits: string;
  description: string;
}

/** The exported schema constants by identity, so a nested use of one finds its own field comments. */
const NAMED = new Map<unknown, string>(
  Object.entries(schemas)
    .filter(([name]) => name.endsWith("Schema"))
    .map(([name, schema]) => [schema, name]),
);

function unwrap(schema: ZodLike): {
  inner: ZodLike;
  optional: boolean;
  defaultValue: unknown;
  hasDefault: boolean;
} {
  let inner = schema;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    const def = inner._zod.def;
    if (def.type === "optional") optional = true;
    else if (def.type === "default") {
      hasDefault = true;
      defaultValue = def.defaultValue;
    } else if (def.type === "pipe") {
      inner = def.in as ZodLike;
      continue;
    } else break;
    inner = def.innerType as ZodLike;
  }
  return { inner, optional, defaultValue, hasDefault };
}

function typeName(schema: ZodLike): string {
  const def = schema._zod.def;
  switch (def.type) {
    case "enum":
      return Object.values(def.entries as Record<string, string>)
        .map((v) => `\`"${v}"\``)
        .join(" | ");
    case "array":
      return `array of ${typeName(unwrap(def.element as ZodLike).inner)}`;
    case "number":
      return (def.checks as unknown[] | undefined)?.length ? "integer" : "number";
    case "record":
      return "map";
    default:
      return def.type;
  }
}

function limits(schema: ZodLike): string {
  const parts: string[] = [];
  if (typeof schema.minValue === "number" && Number.isFinite(schema.minValue))
    parts.push(`≥ ${schema.minValue}`);
  if (typeof schema.maxValue === "number" && Number.isFinite(schema.maxValue))
    parts.push(`≤ ${schema.maxValue}`);
  if (schema._zod.def.type === "array" && typeof schema.minLength === "number" && schema.minLength > 0) {
    parts.push(`at least ${schema.minLength}`);
  }
  return parts.join(", ");
}

function rows(
  schema: ZodLike,
  path: string,
  comments: Map<string, string>,
  root: string,
  rel: string[],
  /** This field's value in its parent's default, when the parent object has one. */
  inherited?: { value: unknown; parent: string },
): Row[] {
  const { inner, optional, defaultValue, hasDefault } = unwrap(schema);
  const named = NAMED.get(inner);
  // Only an object schema brings its own field comments; a named enum (capacitySchema) keeps the field's comment.
  if (named && named !== root && inner._zod.def.type === "object") {
    root = named;
    rel = [];
  }
  const out: Row[] = [];
  const isObject = inner._zod.def.type === "object";
  const key = `${root}.${rel.join(".")}`;
  let shownDefault = "";
  if (hasDefault && !isObject) shownDefault = `\`${JSON.stringify(defaultValue)}\``;
  else if (hasDefault) shownDefault = "(its fields' defaults)";
  else if (comments.has(`${key}@default`)) shownDefault = String(comments.get(`${key}@default`));
  if (
    inherited &&
    inherited.value !== undefined &&
    JSON.stringify(inherited.value) !== JSON.stringify(defaultValue)
  ) {
    shownDefault = `\`${JSON.stringify(inherited.value)}\` when \`${inherited.parent}\` is omitted, else ${shownDefault}`;
  }
  if (path) {
    out.push({
      path,
      type: isObject ? "object" : typeName(inner),
      required: !optional && !hasDefault,
      default: shownDefault,
      limits: limits(inner),
      description: comments.get(key) ?? "",
    });
  }
  const def = inner._zod.def;
  if (def.type === "object") {
    const parentDefault =
      hasDefault && defaultValue && typeof defaultValue === "object"
        ? (defaultValue as Record<string, unknown>)
        : undefined;
    for (const [name, child] of Object.entries(def.shape as Record<string, ZodLike>)) {
      const childInherited = parentDefault ? { value: parentDefault[name], parent: path } : undefined;
      out.push(
        ...rows(child, path ? `${path}.${name}` : name, comments, root, [...rel, name], childInherited),
      );
    }
  } else if (def.type === "array") {
    const element = unwrap(def.element as ZodLike).inner;
    if (element._zod.def.type === "object") {
      // Field comments of array elements sit under the array's own path in an inline schema.
      out.push(...rows(element as ZodLike, `${path}[]`, comments, root, rel).slice(1));
    }
  }
  return out;
}

const escapeCell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderConfigReference(sourceText = readFileSync(SCHEMA_SOURCE, "utf8")): string {
  const table = rows(
    schemas.configSchema as unknown as ZodLike,
    "",
    fieldComments(sourceText),
    "configSchema",
    [],
  );
  const lines = [
    "# Configuration reference",
    "",
    "<!-- GENERATED by scripts/gen-config-reference.ts from src/config/schema.ts: do not edit by hand. -->",
    "<!-- Regenerate with: npx tsx scripts/gen-config-reference.ts -->",
    "",
    "The configuration file (`config/runner.json` by default; `-c` / `SGR_CONFIG_FILE` to choose another) is JSON,",
    "validated by `src/config/schema.ts` at synth time, in every function and in the manager. Unknown fields are",
    "errors. `runners[]` fields apply to each runner configuration. See `config/example.json`.",
    "",
    "| Field | Type | Required | Default | Limits | Description |",
    "|---|---|---|---|---|---|",
    ...table.map(
      (r) =>
        `| \`${r.path}\` | ${escapeCell(r.type)} | ${r.required ? "yes" : ""} | ${escapeCell(r.default)} | ${escapeCell(r.limits)} | ${escapeCell(r.description)} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(REFERENCE_PATH, renderConfigReference());
  process.stdout.write(`wrote ${REFERENCE_PATH}\n`);
}
