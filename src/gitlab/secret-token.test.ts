import { describe, expect, it } from "vitest";
import { normaliseSecretToken, secretTokenMatches } from "./secret-token.js";

describe("X-Gitlab-Token check", () => {
  it("accepts only the exact secret", () => {
    expect(secretTokenMatches("s3cret-token", "s3cret-token")).toBe(true);
    expect(secretTokenMatches("s3cret-tokeN", "s3cret-token")).toBe(false);
    expect(secretTokenMatches("s3cret-token-longer", "s3cret-token")).toBe(false);
    expect(secretTokenMatches("", "s3cret-token")).toBe(false);
    expect(secretTokenMatches(undefined, "s3cret-token")).toBe(false);
  });

  it("never matches an empty expected secret", () => {
    expect(secretTokenMatches("", "")).toBe(false);
  });

  it("compares the stored secret the way GitLab sends it: without line breaks", () => {
    expect(normaliseSecretToken("abc\r\ndef\n")).toBe("abcdef");
    expect(secretTokenMatches("abcdef", "abc\ndef\n")).toBe(true);
  });
});
