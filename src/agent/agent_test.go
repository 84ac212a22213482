package main

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestFramesRoundTripAndLimit(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(encodeFrame(frameHello, []byte("hello")))
	stream.Write(encodeFrame(frameOutput, bytes.Repeat([]byte{7}, 70_000)))
	stream.Write(encodeFrame(frameControl, nil))
	for _, want := range []struct {
		kind   byte
		length int
	}{{1, 5}, {3, 70_000}, {2, 0}} {
		got, err := readFrame(&stream)
		if err != nil || got.kind != want.kind || len(got.payload) != want.length {
			t.Fatalf("frame %v: got type %d, %d bytes, %v", want, got.kind, len(got.payload), err)
		}
	}
	if _, err := readFrame(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff})); err == nil ||
		!strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("an absurd length must be refused, got %v", err)
	}
}

func TestOutputFrameLayout(t *testing.T) {
	frame := newOutputFrame("3-build_script", 16)
	copy(frame.data(), "abcdef")
	out := frame.finish(6)
	if out[0] != frameOutput || int(binary.BigEndian.Uint32(out[1:])) != len(out)-frameHeaderBytes {
		t.Fatalf("bad header % x", out[:5])
	}
	if int(out[5]) != len("3-build_script") || string(out[6:20]) != "3-build_script" || string(out[20:]) != "abcdef" {
		t.Fatalf("bad payload %q", out[5:])
	}
}

func TestSelfSignedCertificate(t *testing.T) {
	cert, err := selfSignedCertificate("sgr-agent", 1)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Subject.CommonName != "sgr-agent" || parsed.Issuer.CommonName != "sgr-agent" {
		t.Fatalf("subject %q issuer %q", parsed.Subject, parsed.Issuer)
	}
	if err := parsed.CheckSignature(parsed.SignatureAlgorithm, parsed.RawTBSCertificate, parsed.Signature); err != nil {
		t.Fatalf("does not verify with its own key: %v", err)
	}
	if !parsed.NotAfter.After(time.Now()) || !parsed.NotBefore.Before(time.Now()) {
		t.Fatalf("not valid now: %v – %v", parsed.NotBefore, parsed.NotAfter)
	}
	if parsed.SerialNumber.Sign() <= 0 {
		t.Fatalf("serial must be positive: %v", parsed.SerialNumber)
	}
}

func TestProofMatches(t *testing.T) {
	expected := bytes.Repeat([]byte{0xab}, 32)
	if !proofMatches(expected, hex.EncodeToString(expected)) {
		t.Fatal("the right proof must match")
	}
	for _, given := range []string{"", "zz", strings.Repeat("AB", 32), strings.Repeat("ab", 31) + "ac"} {
		if proofMatches(expected, given) {
			t.Fatalf("%q must not match", given)
		}
	}
}

func TestParentPidWithAWkwardCommandName(t *testing.T) {
	ppid, ok := parentPid("42 (a) b (c)) S 7 42 42 0")
	if !ok || ppid != 7 {
		t.Fatalf("got %d %v", ppid, ok)
	}
}
