/**
 * Service `variables:` as gitlab-runner's Docker executor hands them to a service container: every value is
 * `$VAR`/`${VAR}`-expanded (`$$` is a literal `$`) against the job's public and internal variables (the predefined
 * `CI_*` ones) followed by the service's own, the last definition of a name winning and an unknown name expanding
 * to nothing; a `raw` variable is left as written. Only the service's own variables reach its container (they go
 * in the RunTask overrides, which ECS limits to 8 KiB; the predefined ones would not fit).
 */

export interface PayloadVariable {
  key: string;
  value?: string | null;
  public?: boolean | null;
  internal?: boolean | null;
  raw?: boolean | null;
  file?: boolean | null;
}

const REFERENCE = /\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;

/** Expands `$NAME`, `${NAME}` and `$$` in one pass over the unexpanded values (no recursion, as gitlab-runner). */
export function expandValue(value: string, lookup: (name: string) => string | undefined): string {
  return value.replace(REFERENCE, (_match, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare;
    if (name === undefined) return "$";
    return lookup(name) ?? "";
  });
}

/** The environment of one service container: its variables, expanded. */
export function serviceEnvironment(
  serviceVariables: readonly PayloadVariable[],
  jobVariables: readonly PayloadVariable[],
): Record<string, string> {
  const visible = jobVariables.filter((v) => (v.public || v.internal) && !v.file);
  const known = new Map<string, string>();
  for (const v of [...visible, ...serviceVariables]) known.set(v.key, v.value ?? "");
  const environment: Record<string, string> = {};
  for (const v of serviceVariables) {
    const value = v.value ?? "";
    environment[v.key] = v.raw ? value : expandValue(value, (name) => known.get(name));
  }
  return environment;
}
