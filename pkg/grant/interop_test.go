package grant_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/signkey"
)

func openssl(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin := testenv.Tool(t, "openssl", "openssl")
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, err
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func positiveVectors(t *testing.T) []vectors.Record {
	recs, err := vectors.Load(vectorFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []vectors.Record
	for _, r := range recs {
		if !r.ExpectFail() {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("no positive grant vectors")
	}
	return out
}

// opensslVerify checks sig over body with openssl dgst and with openssl
// pkeyutl; both must agree with want.
func opensslVerify(t *testing.T, dir string, pub *rsa.PublicKey, body, sig []byte, want bool) {
	t.Helper()
	pemData, err := signkey.MarshalPublicPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := writeFile(t, dir, "issuer.pub.pem", pemData)
	bodyPath := writeFile(t, dir, "body.bin", body)
	sigPath := writeFile(t, dir, "sig.bin", sig)
	out, err := openssl(t, "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, bodyPath)
	if got := err == nil && strings.Contains(string(out), "Verified OK"); got != want {
		t.Fatalf("openssl dgst -verify: %v (%s), want verified=%v", err, out, want)
	}
	_, err = openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-digest", "sha256", "-in", bodyPath, "-sigfile", sigPath)
	if got := err == nil; got != want {
		t.Fatalf("openssl pkeyutl -verify: %v, want verified=%v", err, want)
	}
}

// TestOpenSSLVerifiesVectors: openssl verifies the signature of every
// positive vector, from a public key rebuilt from the record's modulus,
// and rejects it after a one-byte change of the body. openssl also
// derives the same seal key (AES-128-ECB of the label).
func TestOpenSSLVerifiesVectors(t *testing.T) {
	for _, r := range positiveVectors(t) {
		t.Run(r.Text("name"), func(t *testing.T) {
			dir := t.TempDir()
			pub := &rsa.PublicKey{N: newInt(r.Hex("n")), E: 65537}
			body, sig := r.Hex("body"), r.Hex("signature")
			opensslVerify(t, dir, pub, body, sig, true)
			body[grant.OffTasks+3] ^= 1
			opensslVerify(t, dir, pub, body, sig, false)

			key := r.Hex("master_key")
			if r.Hex("flags")[0]&grant.FlagGroup != 0 {
				key = r.Hex("group_key")
			}
			label := writeFile(t, dir, "label.bin", []byte(grant.SealLabel))
			out, err := openssl(t, "enc", "-aes-128-ecb", "-nopad", "-K", hex.EncodeToString(key), "-in", label)
			if err != nil || !bytes.Equal(out, r.Hex("seal_key")) {
				t.Fatalf("openssl AES-128-ECB(key, label) = %x, vector seal_key %x", out, r.Hex("seal_key"))
			}
		})
	}
}

// TestOpenSSLKeySignsGrant: a key made by openssl genpkey signs a grant;
// openssl verifies it with the public key it extracts itself, mstool
// verifies it with that public key, and openssl's own signature over the
// body is the same bytes (PKCS#1 v1.5 is deterministic).
func TestOpenSSLKeySignsGrant(t *testing.T) {
	for _, bits := range []string{"1024", "2048"} {
		t.Run("rsa"+bits, func(t *testing.T) {
			dir := t.TempDir()
			keyPath := filepath.Join(dir, "owner.pem")
			pubPath := filepath.Join(dir, "owner.pub.pem")
			if _, err := openssl(t, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:"+bits, "-out", keyPath); err != nil {
				t.Fatal(err)
			}
			if _, err := openssl(t, "pkey", "-in", keyPath, "-pubout", "-out", pubPath); err != nil {
				t.Fatal(err)
			}
			keyPEM, _ := os.ReadFile(keyPath)
			pubPEM, _ := os.ReadFile(pubPath)
			key, err := signkey.ParsePrivatePEM(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := signkey.ParsePublicPEM(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			g, hk := mustSign(t, key, baseRequest())
			body, sig := g[:grant.BodySize], g[grant.BodySize:]
			bodyPath := writeFile(t, dir, "body.bin", body)
			sigPath := writeFile(t, dir, "sig.bin", sig)
			out, err := openssl(t, "dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, bodyPath)
			if err != nil || !strings.Contains(string(out), "Verified OK") {
				t.Fatalf("openssl rejects the grant signature: %v %s", err, out)
			}
			if _, err := grant.Verify(g, grant.VerifyOptions{Issuer: pub, Device: testDevice(), HostKey: &hk, Now: t0}); err != nil {
				t.Fatal(err)
			}
			osig, err := openssl(t, "dgst", "-sha256", "-sign", keyPath, bodyPath)
			if err != nil || !bytes.Equal(osig, sig) {
				t.Fatalf("openssl's signature over the body differs from the grant's")
			}
		})
	}
}

// TestPythonOpensSeal opens the sealed host key of every positive vector
// with an AES-CCM we did not write (python3-cryptography, i.e. OpenSSL's
// CCM), from the record's fields.
func TestPythonOpensSeal(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "from cryptography.hazmat.primitives.ciphers.aead import AESCCM").Run(); err != nil {
		testenv.Missing(t, "python3-cryptography for /usr/bin/python3", "apt-get install python3-cryptography")
	}
	const script = `
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
key, label, nonce, aad, sealed, seal_key = (bytes.fromhex(a) for a in sys.argv[1:7])
enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
derived = enc.update(label) + enc.finalize()
assert derived == seal_key, "seal key differs"
print(AESCCM(derived, tag_length=8).decrypt(nonce, sealed, aad).hex())
`
	for _, r := range positiveVectors(t) {
		t.Run(r.Text("name"), func(t *testing.T) {
			key := r.Hex("master_key")
			if r.Hex("flags")[0]&grant.FlagGroup != 0 {
				key = r.Hex("group_key")
			}
			body := r.Hex("body")
			run := func(sealed []byte) (string, error) {
				out, err := exec.Command(py, "-c", script, hex.EncodeToString(key), hex.EncodeToString([]byte(grant.SealLabel)),
					hex.EncodeToString(r.Hex("nonce")), hex.EncodeToString(body[:grant.AADSize]),
					hex.EncodeToString(sealed), hex.EncodeToString(r.Hex("seal_key"))).CombinedOutput()
				return strings.TrimSpace(string(out)), err
			}
			out, err := run(r.Hex("sealed"))
			if err != nil || out != hex.EncodeToString(r.Hex("host_key")) {
				t.Fatalf("python AESCCM: %v: %s", err, out)
			}
			bad := r.Hex("sealed")
			bad[len(bad)-1] ^= 1
			if out, err := run(bad); err == nil {
				t.Fatalf("python AESCCM opened a changed seal: %s", out)
			}
		})
	}
}
