package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"regexp"
	"time"
)

// The proof each side sends first binds the job secret to this TLS session (src/driver/channel/protocol.ts):
// HMAC-SHA256(secret, role ‖ exported keying material). A transcript from one session is useless in another, and
// a man in the middle cannot forward the proofs; the certificate is ephemeral and authenticates nothing.
const ekmLabel = "EXPORTER-sgr-agent-channel"

var secretPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func channelProof(secret, role string, state tls.ConnectionState) ([]byte, error) {
	material, err := state.ExportKeyingMaterial(ekmLabel, []byte("v1"), 32)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(role))
	mac.Write(material)
	return mac.Sum(nil), nil
}

func proofMatches(expected []byte, given string) bool {
	if !secretPattern.MatchString(given) {
		return false
	}
	decoded, _ := hex.DecodeString(given)
	return hmac.Equal(expected, decoded)
}

// selfSignedCertificate makes the listener's ephemeral certificate: ECDSA P-256, CN=sgr-agent, valid from a
// minute ago (clock skew) for validDays.
func selfSignedCertificate(commonName string, validDays int) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Duration(validDays) * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
