import { describe, expect, it } from "vitest";
import {
  decodeSigningToken,
  hasSignatureHeaders,
  SigningTokenError,
  signDelivery,
  verifySignature,
} from "./signature.js";

// Published Standard Webhooks test vector (standard-webhooks reference libraries' tests).
const vector = {
  token: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: "1614265330",
  body: Buffer.from('{"test": 2432232314}'),
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};
const key = decodeSigningToken(vector.token);
const options = { key, body: vector.body, nowSeconds: 1614265330, toleranceSeconds: 300 };
const headers = (signature: string, overrides: Partial<{ id: string; timestamp: string }> = {}) => ({
  webhookId: overrides.id ?? vector.id,
  webhookTimestamp: overrides.timestamp ?? vector.timestamp,
  webhookSignature: signature,
});

describe("Standard Webhooks signature", () => {
  it("reproduces the published test vector", () => {
    expect(signDelivery(key, vector.id, vector.timestamp, vector.body)).toBe(vector.signature);
    expect(verifySignature(headers(vector.signature), options)).toEqual({ ok: true });
  });

  it("accepts a match among several space-separated signatures and ignores other schemes", () => {
    const other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    expect(verifySignature(headers(`v1a,xyz ${other} ${vector.signature}`), options)).toEqual({ ok: true });
    expect(verifySignature(headers(`${other} v2,${vector.signature.slice(3)}`), options)).toEqual({
      ok: false,
      reason: "mismatch",
    });
  });

  it("refuses a changed body, id or timestamp", () => {
    expect(
      verifySignature(headers(vector.signature), { ...options, body: Buffer.from('{"test": 2432232315}') })
        .ok,
    ).toBe(false);
    expect(verifySignature(headers(vector.signature, { id: "msg_other" }), options).ok).toBe(false);
    expect(verifySignature(headers(vector.signature, { timestamp: "1614265331" }), options)).toEqual({
      ok: false,
      reason: "mismatch",
    });
  });

  it("refuses timestamps outside the tolerance (replays) in both directions", () => {
    expect(verifySignature(headers(vector.signature), { ...options, nowSeconds: 1614265330 + 301 })).toEqual({
      ok: false,
      reason: "stale-timestamp",
    });
    expect(verifySignature(headers(vector.signature), { ...options, nowSeconds: 1614265330 - 301 })).toEqual({
      ok: false,
      reason: "stale-timestamp",
    });
    expect(verifySignature(headers(vector.signature), { ...options, nowSeconds: 1614265330 + 300 }).ok).toBe(
      true,
    );
  });

  it("classifies missing and malformed headers", () => {
    expect(
      verifySignature({ webhookId: vector.id, webhookTimestamp: undefined, webhookSignature: "x" }, options),
    ).toEqual({
      ok: false,
      reason: "missing-headers",
    });
    expect(verifySignature(headers(vector.signature, { timestamp: "1614265330.5" }), options).ok).toBe(false);
    expect(verifySignature(headers(vector.signature, { id: "" }), options)).toEqual({
      ok: false,
      reason: "malformed",
    });
    expect(verifySignature(headers("v1,not base64!!"), options)).toEqual({ ok: false, reason: "mismatch" });
    expect(verifySignature(headers("garbage"), options)).toEqual({ ok: false, reason: "mismatch" });
  });

  it("knows an unsigned request from a signed one", () => {
    const none = { webhookId: undefined, webhookTimestamp: undefined, webhookSignature: undefined };
    expect(hasSignatureHeaders(none)).toBe(false);
    expect(hasSignatureHeaders({ ...none, webhookSignature: "v1,x" })).toBe(true);
  });

  it("decodes signing tokens with or without the whsec_ prefix and refuses others", () => {
    expect(decodeSigningToken("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")).toEqual(
      Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
    );
    expect(decodeSigningToken("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).toEqual(key);
    expect(() => decodeSigningToken("whsec_")).toThrow(SigningTokenError);
    expect(() => decodeSigningToken("whsec_not base64")).toThrow(SigningTokenError);
  });
});
