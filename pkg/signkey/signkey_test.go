package signkey

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
)

func TestGenerateSizes(t *testing.T) {
	for _, bits := range []int{512, 1536, 3072, 4096} {
		if _, err := Generate(rand.Reader, bits); err == nil {
			t.Errorf("%d bits accepted", bits)
		}
	}
	k, err := Generate(rand.Reader, Bits1024)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 1024 || k.E != PublicExponent || !Weak(1024) || Weak(2048) {
		t.Fatal("unexpected key")
	}
}

func TestPEMRoundTrip(t *testing.T) {
	k, err := Generate(rand.Reader, Bits1024)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := MarshalPrivatePEM(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivatePEM(priv)
	if err != nil || !back.Equal(k) {
		t.Fatalf("PKCS#8 round trip: %v", err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if back, err := ParsePrivatePEM(pkcs1); err != nil || !back.Equal(k) {
		t.Fatalf("PKCS#1: %v", err)
	}
	pub, err := MarshalPublicPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{pub, priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})} {
		p, err := ParsePublicPEM(in)
		if err != nil || !p.Equal(&k.PublicKey) {
			t.Fatalf("public parse: %v", err)
		}
	}
	if len(ModulusBytes(&k.PublicKey)) != 128 {
		t.Fatal("modulus length")
	}
	if KeyID(&k.PublicKey) == KeyID(&back.PublicKey) && KeyID(&k.PublicKey) == [8]byte{} {
		t.Fatal("zero key id")
	}
}

func TestParseRejects(t *testing.T) {
	bad := map[string][]byte{
		"not pem":   []byte("hello"),
		"cert":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"encrypted": pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}),
		"garbage":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, in := range bad {
		if _, err := ParsePrivatePEM(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An exponent other than 65537 is refused.
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	k.E = 3
	if err := Check(&k.PublicKey); err == nil {
		t.Error("e=3 accepted")
	}
}

// TestOpenSSLInterop: a key made by openssl genpkey parses, and a
// signature made with it by Go verifies with openssl, and our PEM reads in openssl.
func TestOpenSSLInterop(t *testing.T) {
	openssl := testenv.Tool(t, "openssl", "openssl")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k.pem")
	out, err := exec.Command(openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyPath).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivatePEM(data)
	if err != nil {
		t.Fatalf("parsing openssl key: %v", err)
	}
	msg := []byte("mstool")
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := MarshalPublicPEM(&k.PublicKey)
	for name, b := range map[string][]byte{"pub.pem": pub, "msg": msg, "sig": sig} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err = exec.Command(openssl, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"),
		"-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "msg")).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl rejected the signature: %v\n%s", err, out)
	}
	// Our private PEM reads back in openssl.
	ours, _ := Generate(rand.Reader, Bits1024)
	priv, _ := MarshalPrivatePEM(ours)
	p := filepath.Join(dir, "ours.pem")
	os.WriteFile(p, priv, 0o600)
	if out, err := exec.Command(openssl, "pkey", "-in", p, "-noout", "-check").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey -check: %v\n%s", err, out)
	}
}

// TestLegacyEncryptedPEM: a key encrypted the traditional way (openssl rsa
// -traditional -aes128: "RSA PRIVATE KEY" with Proc-Type: 4,ENCRYPTED) is
// refused as encrypted, with the way to decrypt it, not as broken DER.
func TestLegacyEncryptedPEM(t *testing.T) {
	in := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{
		"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,E3C9CC328A49D8AD07AAFE35B7620DBF"}, Bytes: make([]byte, 64)})
	for name, parse := range map[string]func([]byte) error{
		"private": func(b []byte) error { _, err := ParsePrivatePEM(b); return err },
		"public":  func(b []byte) error { _, err := ParsePublicPEM(b); return err },
	} {
		if err := parse(in); err == nil || !strings.Contains(err.Error(), "encrypted private keys are not supported") {
			t.Errorf("%s: %v, want the encrypted-key error", name, err)
		}
	}
}
