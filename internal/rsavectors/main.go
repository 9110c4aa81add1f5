// Command rsavectors writes vectors/rsa.txt: RSASSA-PKCS1-v1_5 SHA-256
// verification records (alg rsa-pkcs1-sha256, vectors/README.md) made with
// the TEST-ONLY keys in vectors/keys. PKCS#1 v1.5 signing is
// deterministic, so the output is reproducible:
//
//	go run ./internal/rsavectors > vectors/rsa.txt
//
// Negative records cover what a verifier must reject: a flipped bit in
// the signature, the hash of another message, another key's modulus,
// s = n and s > n, s = 0 and s = 1, and encodings that a parsing verifier
// might accept (block type 02, a short or 0xFE padding string, SHA-1's
// DigestInfo, a DigestInfo with NULL parameters missing, garbage after
// the hash, the hash moved left). The crafted encodings are signed with
// the raw private-key operation so that only the encoding is wrong.
package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rsavectors:", err)
		os.Exit(1)
	}
}

func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", path)
	}
	return rk, nil
}

// digestInfo is the DER prefix of a SHA-256 DigestInfo (RFC 8017 9.2).
var digestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// rawSign returns em^d mod n, k bytes: a signature on an arbitrary encoding.
func rawSign(key *rsa.PrivateKey, em []byte) []byte {
	k := key.Size()
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), key.D, key.N)
	return s.FillBytes(make([]byte, k))
}

// encode builds 00 01 FF.. 00 || t, k bytes (t the DigestInfo and hash).
func encode(k int, t []byte) []byte {
	em := bytes.Repeat([]byte{0xff}, k)
	em[0], em[1] = 0, 1
	em[k-len(t)-1] = 0
	copy(em[k-len(t):], t)
	return em
}

type record struct {
	name, note   string
	n, msg, hash []byte
	sig          []byte
	fail         bool
}

func (r record) write(b *strings.Builder) {
	fmt.Fprintf(b, "alg = rsa-pkcs1-sha256\nsource = mstool (internal/rsavectors, vectors/keys TEST-ONLY keys)\nname = %s\n", r.name)
	if r.note != "" {
		fmt.Fprintf(b, "note = %s\n", r.note)
	}
	field := func(name string, v []byte) {
		h := hex.EncodeToString(v)
		fmt.Fprintf(b, "%s =", name)
		if len(h) <= 64 {
			if h != "" {
				fmt.Fprintf(b, " %s", h)
			}
			b.WriteString("\n")
			return
		}
		b.WriteString("\n")
		for len(h) > 0 {
			n := min(64, len(h))
			fmt.Fprintf(b, "  %s\n", h[:n])
			h = h[n:]
		}
	}
	field("n", r.n)
	if r.hash != nil {
		field("hash", r.hash)
	} else {
		field("msg", r.msg)
	}
	field("sig", r.sig)
	if r.fail {
		b.WriteString("result = fail\n")
	}
	b.WriteString("\n")
}

func run() error {
	dir := filepath.Join("vectors", "keys")
	var keys []*rsa.PrivateKey
	for _, f := range []string{"test-rsa1024.pem", "test-rsa2048.pem"} {
		k, err := loadKey(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	var recs []record
	for i, key := range keys {
		other := keys[1-i]
		bits := key.N.BitLen()
		k := key.Size()
		n := key.N.FillBytes(make([]byte, k))
		sign := func(msg []byte) []byte {
			h := sha256.Sum256(msg)
			s, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
			if err != nil {
				panic(err)
			}
			return s
		}
		p := fmt.Sprintf("rsa%d/", bits)
		abc := []byte("abc")
		grantBody := make([]byte, 79)
		for j := range grantBody {
			grantBody[j] = byte(j*37 + 11)
		}
		recs = append(recs,
			record{name: p + "empty", n: n, msg: []byte{}, sig: sign(nil)},
			record{name: p + "abc", n: n, msg: abc, sig: sign(abc)},
			record{name: p + "grant-sized", note: "a 79-byte message, as a grant body", n: n, msg: grantBody, sig: sign(grantBody)},
		)
		h := sha256.Sum256(abc)
		recs = append(recs, record{name: p + "hash", note: "the hash given instead of the message", n: n, hash: h[:], sig: sign(abc)})

		flip := func(v []byte, bit int) []byte {
			c := bytes.Clone(v)
			c[bit/8] ^= 0x80 >> (bit % 8)
			return c
		}
		good := sign(abc)
		recs = append(recs,
			record{name: p + "sig-first-bit", note: "most significant bit of the signature flipped", n: n, msg: abc, sig: flip(good, 0), fail: true},
			record{name: p + "sig-last-bit", note: "least significant bit flipped", n: n, msg: abc, sig: flip(good, k*8-1), fail: true},
			record{name: p + "sig-middle-bit", n: n, msg: abc, sig: flip(good, k*4+3), fail: true},
			record{name: p + "wrong-message", note: "signature of abc, message abd", n: n, msg: []byte("abd"), sig: good, fail: true},
			record{name: p + "wrong-key", note: "a signature by the other test key, padded or cut to this length", n: n, msg: abc,
				sig: fitLen(otherSig(other, abc), k), fail: true},
			record{name: p + "s-equals-n", n: n, msg: abc, sig: bytes.Clone(n), fail: true},
			record{name: p + "s-plus-n", note: "the valid signature plus n, where it fits in k bytes (else s = 2^(8k) - 1)", n: n, msg: abc, sig: plusN(good, key.N, k), fail: true},
			record{name: p + "s-zero", n: n, msg: abc, sig: make([]byte, k), fail: true},
			record{name: p + "s-one", n: n, msg: abc, sig: append(make([]byte, k-1), 1), fail: true},
		)
		t := append(bytes.Clone(digestInfo), h[:]...)
		bad := func(name, note string, em []byte) {
			recs = append(recs, record{name: p + name, note: note, n: n, msg: abc, sig: rawSign(key, em), fail: true})
		}
		em := encode(k, t)
		em[1] = 2
		bad("block-type-2", "00 02 instead of 00 01", em)
		em = encode(k, t)
		em[5] = 0xfe
		bad("padding-fe", "one padding byte FE", em)
		em = encode(k, t)
		em[0] = 1
		em[1] = 0xff
		bad("leading-01", "01 FF.. (no leading zero byte)", em)
		sha1Info := []byte{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}
		bad("sha1-digestinfo", "SHA-1 DigestInfo around the first 20 bytes of the SHA-256 hash",
			encode(k, append(bytes.Clone(sha1Info), h[:20]...)))
		noNull := []byte{0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20}
		bad("digestinfo-no-null", "DigestInfo without the NULL parameters (a form some parsers accept)",
			encode(k, append(bytes.Clone(noNull), h[:]...)))
		garbage := append(bytes.Clone(t), bytes.Repeat([]byte{0x5a}, 16)...)
		bad("garbage-after-hash", "00 01 FF.. 00 DigestInfo hash followed by 16 bytes (Bleichenbacher 2006)",
			encode(k, garbage))
		em = encode(k, t)
		em[2] = 0
		bad("short-padding", "00 01 00 ..: the separator right after the block type", em)
	}
	var b strings.Builder
	b.WriteString(`# RSASSA-PKCS1-v1_5 signature verification with SHA-256, e = 65537
# (RFC 8017 section 8.2.2), alg = rsa-pkcs1-sha256. Our own: source = mstool.
# Generated by: go run ./internal/rsavectors > vectors/rsa.txt
# The keys are the TEST-ONLY keys in vectors/keys (match by modulus).
#
# Fields: n (modulus, big-endian, 128 or 256 bytes); msg (the message) or
# hash (its SHA-256); sig (the signature, as long as n); result = fail for
# signatures that must be rejected (the name says why).

`)
	for _, r := range recs {
		r.write(&b)
	}
	_, err := os.Stdout.WriteString(strings.TrimRight(b.String(), "\n") + "\n")
	return err
}

func otherSig(key *rsa.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	s, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return s
}

// fitLen cuts v to its last k bytes or left-pads it with zeros.
func fitLen(v []byte, k int) []byte {
	if len(v) >= k {
		return bytes.Clone(v[len(v)-k:])
	}
	return append(make([]byte, k-len(v)), v...)
}

func plusN(sig []byte, n *big.Int, k int) []byte {
	s := new(big.Int).Add(new(big.Int).SetBytes(sig), n)
	if s.BitLen() > 8*k {
		return bytes.Repeat([]byte{0xff}, k)
	}
	return s.FillBytes(make([]byte, k))
}
