import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSelfSignedCertificate, positiveInteger } from "./self-signed.js";

const hex = (bytes: number[]) => positiveInteger(Buffer.from(bytes)).toString("hex");

describe("positiveInteger", () => {
  it("encodes the minimal DER form: no redundant leading zero, a zero before a set high bit", () => {
    expect(hex([0x00, 0x00, 0x7f])).toBe("02017f");
    expect(hex([0x00, 0x80])).toBe("02020080");
    expect(hex([0x80])).toBe("02020080");
    expect(hex([0x01, 0x00])).toBe("02020100");
    expect(hex([0x00, 0x00])).toBe("020100");
    expect(hex([])).toBe("020100");
  });
});

describe("createSelfSignedCertificate", () => {
  it("makes a certificate that parses and verifies with its own key", () => {
    const { cert } = createSelfSignedCertificate("sgr-agent");
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe("CN=sgr-agent");
    expect(x509.verify(x509.publicKey)).toBe(true);
  });
});
