/**
 * GitLab webhook timestamps come in two shapes (GitLab issue 267551): Pipeline Hooks use
 * `2016-08-12 15:23:28 UTC`, Job Hooks ISO 8601 (`2021-02-23T02:41:37.886Z`, and `*_iso` fields
 * without fraction). Both become ISO 8601 UTC strings; anything else becomes null, never an error,
 * because a timestamp we cannot read must not make an authentic delivery fail.
 */

/** `2016-08-12 15:23:28 UTC`, also with a fraction or a numeric offset (`+0200`, `+02:00`). */
const GITLAB_LEGACY = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) ?(UTC|Z|[+-]\d{2}:?\d{2})$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})$/;

function offsetToIso(offset: string): string {
  if (offset === "UTC" || offset === "Z") return "Z";
  return offset.includes(":") ? offset : `${offset.slice(0, 3)}:${offset.slice(3)}`;
}

/** Parses either GitLab format to an ISO 8601 UTC string, or null. */
export function parseGitlabTimestamp(value: string | null | undefined): string | null {
  if (typeof value !== "string") return null;
  let candidate: string | undefined;
  const legacy = GITLAB_LEGACY.exec(value);
  if (legacy) candidate = `${legacy[1]}T${legacy[2]}${offsetToIso(legacy[3]!)}`;
  else if (ISO_8601.test(value)) candidate = value;
  if (candidate === undefined) return null;
  const millis = Date.parse(candidate);
  return Number.isNaN(millis) ? null : new Date(millis).toISOString();
}

/** Digits after the seconds' decimal point (0 for none): how precise a GitLab timestamp is. */
function fractionDigits(value: string): number {
  return /:\d{2}\.(\d+)/.exec(value)?.[1]?.length ?? 0;
}

/**
 * Of the `*_iso` field and the legacy one next to it, the more precise reading of the same instant: Job Hooks
 * send `build_created_at` with milliseconds and `build_created_at_iso` without, and phases computed from whole
 * seconds would be off by up to one. When the two disagree beyond their precision, the `*_iso` field wins.
 */
export function preferIso(iso: string | null | undefined, legacy: string | null | undefined): string | null {
  const fromIso = parseGitlabTimestamp(iso);
  const fromLegacy = parseGitlabTimestamp(legacy);
  if (fromIso === null || fromLegacy === null) return fromIso ?? fromLegacy;
  const sameSecond = Math.floor(Date.parse(fromIso) / 1000) === Math.floor(Date.parse(fromLegacy) / 1000);
  if (sameSecond && fractionDigits(legacy as string) > fractionDigits(iso as string)) return fromLegacy;
  return fromIso;
}
