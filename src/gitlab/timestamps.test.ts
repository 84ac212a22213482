import { describe, expect, it } from "vitest";
import { parseGitlabTimestamp, preferIso } from "./timestamps.js";

describe("GitLab webhook timestamps", () => {
  it("reads both formats into ISO 8601 UTC", () => {
    expect(parseGitlabTimestamp("2016-08-12 15:23:28 UTC")).toBe("2016-08-12T15:23:28.000Z");
    expect(parseGitlabTimestamp("2021-02-23T02:41:37.886Z")).toBe("2021-02-23T02:41:37.886Z");
    expect(parseGitlabTimestamp("2021-02-23T02:41:37Z")).toBe("2021-02-23T02:41:37.000Z");
    expect(parseGitlabTimestamp("2016-08-12 17:23:28 +0200")).toBe("2016-08-12T15:23:28.000Z");
    expect(parseGitlabTimestamp("2021-02-23T04:41:37+02:00")).toBe("2021-02-23T02:41:37.000Z");
  });

  it("answers null for anything else instead of failing", () => {
    for (const value of [
      null,
      undefined,
      "",
      "yesterday",
      "2016-13-45 99:99:99 UTC",
      "1614265330",
      "2016-08-12",
    ]) {
      expect(parseGitlabTimestamp(value)).toBeNull();
    }
  });

  it("prefers the *_iso field and falls back to the legacy one", () => {
    expect(preferIso("2021-02-23T02:41:37Z", "2021-02-23 02:41:00 UTC")).toBe("2021-02-23T02:41:37.000Z");
    expect(preferIso(null, "2021-02-23 02:41:00 UTC")).toBe("2021-02-23T02:41:00.000Z");
    expect(preferIso("garbage", "2021-02-23 02:41:00 UTC")).toBe("2021-02-23T02:41:00.000Z");
  });

  it("keeps the fraction the legacy field carries when both name the same second", () => {
    expect(preferIso("2021-02-23T02:41:37Z", "2021-02-23T02:41:37.886Z")).toBe("2021-02-23T02:41:37.886Z");
    expect(preferIso("2021-02-23T02:41:37.886Z", "2021-02-23 02:41:37 UTC")).toBe("2021-02-23T02:41:37.886Z");
    expect(preferIso("2021-02-23T04:41:37+02:00", "2021-02-23 02:41:37.25 UTC")).toBe(
      "2021-02-23T02:41:37.250Z",
    );
    expect(preferIso("2021-02-23T02:41:37Z", "2021-02-23T02:41:38.500Z")).toBe("2021-02-23T02:41:37.000Z");
  });
});
