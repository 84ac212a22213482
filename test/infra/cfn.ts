/** Small helpers to read a synthesized CloudFormation template in assertions. */

export type CfnTemplate = {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  Parameters?: Record<string, unknown>;
};

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

export function resourcesOfType(template: CfnTemplate, type: string): [string, Record<string, unknown>][] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** The one resource of a type whose logical id contains `fragment`. */
export function resourceNamed(
  template: CfnTemplate,
  type: string,
  fragment: string,
): [string, Record<string, unknown>] {
  const found = resourcesOfType(template, type).filter(([id]) => id.includes(fragment));
  if (found.length !== 1)
    throw new Error(`expected one ${type} matching '${fragment}', found ${found.map(([id]) => id)}`);
  return found[0]!;
}

/** Every statement of the inline policies attached to a role (by the role's logical id). */
export function statementsOfRole(template: CfnTemplate, roleLogicalId: string): Statement[] {
  return resourcesOfType(template, "AWS::IAM::Policy")
    .filter(([, p]) => JSON.stringify(p.Roles) === JSON.stringify([{ Ref: roleLogicalId }]))
    .flatMap(([, p]) => (p.PolicyDocument as { Statement: Statement[] }).Statement);
}

export function statementWithSid(statements: Statement[], sid: string): Statement {
  const found = statements.filter((s) => s.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement ${sid}, found ${found.length}`);
  return found[0]!;
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOf = (s: Statement): unknown[] =>
  Array.isArray(s.Resource) ? s.Resource : [s.Resource];

/**
 * Resolves intrinsic functions to readable stand-ins (`<Logical>`, `<Logical.Attr>`, `<AWS::Partition>`), so a
 * value such as SGR_RESOURCES can be parsed and ARNs compared as strings.
 */
export function flatten(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if ("Ref" in v) return `<${String(v.Ref)}>`;
    if ("Fn::GetAtt" in v) return `<${(v["Fn::GetAtt"] as string[]).join(".")}>`;
    if ("Fn::Join" in v) {
      const [sep, parts] = v["Fn::Join"] as [string, unknown[]];
      return parts.map(flatten).join(sep);
    }
    if ("Fn::Sub" in v) return String(v["Fn::Sub"]);
    if ("Fn::Select" in v) {
      const [index, list] = v["Fn::Select"] as [number, unknown];
      return `<select ${index} of ${flatten(list)}>`;
    }
  }
  return JSON.stringify(value);
}
