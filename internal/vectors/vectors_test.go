package vectors_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/ccm"
	"github.com/mstool/mstool/pkg/cmac"
)

// wantRecords is how many records each vector file holds, so that a file
// truncated or emptied by accident fails the test.
var wantRecords = map[string]int{
	"aes.txt":         2,  // FIPS-197 Appendix B and C.1
	"md5.txt":         7,  // RFC 1321 A.5
	"sha256.txt":      4,  // FIPS 180-2 B.1-B.3, SHAVS Len = 0
	"hmac-md5.txt":    7,  // RFC 2202 section 2
	"hmac-sha256.txt": 7,  // RFC 4231 section 4
	"aes-cbc.txt":     9,  // RFC 3602 cases 1-8, SP 800-38A F.2.1
	"aes-ctr.txt":     3,  // RFC 3686 vectors 1-3
	"aes-ccm.txt":     24, // RFC 3610 packet vectors 1-24
	"aes-cmac.txt":    4,  // RFC 4493 section 4 examples 1-4
	"rsa.txt":         40, // ours: internal/rsavectors, TEST-ONLY keys
}

// checkedElsewhere lists files whose records another package verifies; here
// they are only parsed and their alg checked.
var checkedElsewhere = map[string]string{
	"grant.txt":     "grant",     // pkg/grant
	"mssl.txt":      "mssl",      // pkg/mssl
	"bootstrap.txt": "bootstrap", // pkg/bootstrap
	"coap.txt":      "coap",      // firmware/tests/coap_test.c, pkg/gateway TestDeviceCoAPVectors
}

// An algorithm check: the exact fields a record must have (besides alg,
// source and the optional text fields), and a function that recomputes the
// outputs from the inputs and returns an error on any mismatch. Checks never
// panic on malformed records: they return an error.
type algCheck struct {
	fields   []string
	optional []string
	check    func(r vectors.Record) error
}

var checks = map[string]algCheck{
	"aes-128":          {fields: []string{"key", "pt", "ct"}, check: checkAES},
	"md5":              {fields: []string{"msg", "digest"}, optional: []string{"repeat"}, check: hashCheck(md5.New)},
	"sha-256":          {fields: []string{"msg", "digest"}, optional: []string{"repeat"}, check: hashCheck(sha256.New)},
	"hmac-md5":         {fields: []string{"key", "msg", "mac"}, check: hmacCheck(md5.New)},
	"hmac-sha-256":     {fields: []string{"key", "msg", "mac"}, check: hmacCheck(sha256.New)},
	"aes-128-cbc":      {fields: []string{"key", "iv", "pt", "ct"}, check: checkCBC},
	"aes-128-ctr":      {fields: []string{"key", "nonce", "iv", "ctr_block", "pt", "ct"}, check: checkCTR},
	"aes-128-ccm":      {fields: []string{"key", "nonce", "aad", "pt", "ct", "tag"}, optional: []string{"result"}, check: checkCCM},
	"esp-aes-128-cbc":  {fields: []string{"key", "spi", "seq", "iv", "next", "pt", "packet"}, check: checkESPCBC},
	"aes-128-cmac":     {fields: []string{"key", "msg", "mac"}, check: checkCMAC},
	"rsa-pkcs1-sha256": {fields: []string{"n", "sig"}, optional: []string{"msg", "hash", "result"}, check: checkRSA},
}

// textFields may appear on any record.
var textFields = []string{"alg", "source", "name", "note"}

func TestVectorFiles(t *testing.T) {
	files, err := vectors.Files()
	if err != nil {
		t.Fatal(err)
	}
	for name := range wantRecords {
		if !slices.Contains(files, name) {
			t.Errorf("vector file %s is missing", name)
		}
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			path, err := vectors.Path(name)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := vectors.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if alg, ok := checkedElsewhere[name]; ok {
				if len(recs) == 0 {
					t.Fatalf("%s has no records", name)
				}
				for _, r := range recs {
					if r.Alg != alg {
						t.Errorf("%s: alg %q in %s, want %q", r.Pos(), r.Alg, name, alg)
					}
				}
				return
			}
			want, ok := wantRecords[name]
			if !ok {
				t.Fatalf("no expected record count for %s: add it to wantRecords", name)
			}
			if len(recs) != want {
				t.Fatalf("%s has %d records, want %d", name, len(recs), want)
			}
			for _, r := range recs {
				if err := checkRecord(r); err != nil {
					t.Errorf("%v", err)
				}
			}
		})
	}
}

// TestMutatedVectorsFail proves every check can fail: each hex field of each
// record is changed (a bit flipped at each end, a byte appended, the value
// emptied) and the check must then report an error.
func TestMutatedVectorsFail(t *testing.T) {
	for name := range wantRecords {
		path, err := vectors.Path(name)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := vectors.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ExpectFail() && r.Alg == "rsa-pkcs1-sha256" {
				continue // an invalid signature stays invalid when mutated
			}
			n := 0
			for _, f := range r.Names() {
				v := r.Hex(f)
				if v == nil { // not a hex field
					continue
				}
				for _, m := range mutations(v) {
					n++
					if err := checkRecord(r.WithHex(f, m.value)); err == nil {
						t.Errorf("%s: %s with %s still passes", r.FieldPos(f), f, m.what)
					}
				}
			}
			if n == 0 {
				t.Errorf("%s: no field to mutate", r.Pos())
			}
		}
	}
}

// TestUnknownAlgFails makes sure no record is silently ignored.
func TestUnknownAlgFails(t *testing.T) {
	recs, err := vectors.Parse("t.txt", bytes.NewReader([]byte("alg = aes-129\nsource = nowhere\nkey = 00\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRecord(recs[0]); err == nil {
		t.Fatal("a record with an unknown alg passed")
	}
	recs, err = vectors.Parse("t.txt", bytes.NewReader([]byte(
		"alg = aes-128\nsource = s\nkey = 000102030405060708090a0b0c0d0e0f\npt = 00112233445566778899aabbccddeeff\nct = 69c4e0d86a7b0430d8cdb78070b4c55a\nextra = 00\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRecord(recs[0]); err == nil {
		t.Fatal("a record with an unexpected field passed")
	}
}

type mutation struct {
	what  string
	value []byte
}

func mutations(v []byte) []mutation {
	ms := []mutation{{"a byte appended", append(bytes.Clone(v), 0x5a)}} // not 0: HMAC pads short keys with zeros
	if len(v) > 0 {
		first, last := bytes.Clone(v), bytes.Clone(v)
		first[0] ^= 0x01
		last[len(last)-1] ^= 0x80
		ms = append(ms,
			mutation{"bit 0 of byte 0 flipped", first},
			mutation{"bit 7 of the last byte flipped", last},
			mutation{"the value emptied", []byte{}})
	}
	return ms
}

// checkRecord verifies one record against the standard library (and
// pkg/ccm), after checking it has exactly the fields its alg documents.
func checkRecord(r vectors.Record) error {
	c, ok := checks[r.Alg]
	if !ok {
		return fmt.Errorf("%s: unknown alg %q: no check for it", r.Pos(), r.Alg)
	}
	if err := r.Require(c.fields...); err != nil {
		return err
	}
	for _, f := range r.Names() {
		if !slices.Contains(c.fields, f) && !slices.Contains(c.optional, f) && !slices.Contains(textFields, f) {
			return fmt.Errorf("%s: field %q is not part of an %s record", r.FieldPos(f), f, r.Alg)
		}
	}
	if r.ExpectFail() && !slices.Contains(c.optional, "result") {
		return fmt.Errorf("%s: %s records cannot be negative", r.Pos(), r.Alg)
	}
	if err := c.check(r); err != nil {
		return fmt.Errorf("%s: %s (%s): %w", r.Pos(), r.Alg, r.Source, err)
	}
	return nil
}

func mismatch(what string, got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("%s = %x, published %x", what, got, want)
}

func newAES(key []byte) (cipher.Block, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("key is %d bytes, want 16", len(key))
	}
	return aes.NewCipher(key)
}

func checkAES(r vectors.Record) error {
	b, err := newAES(r.Hex("key"))
	if err != nil {
		return err
	}
	pt, ct := r.Hex("pt"), r.Hex("ct")
	if len(pt) != 16 || len(ct) != 16 {
		return errors.New("pt and ct must be one 16-byte block")
	}
	got := make([]byte, 16)
	b.Encrypt(got, pt)
	if err := mismatch("AES-128-Encrypt(key, pt)", got, ct); err != nil {
		return err
	}
	b.Decrypt(got, ct)
	return mismatch("AES-128-Decrypt(key, ct)", got, pt)
}

func message(r vectors.Record) []byte {
	if r.Has("repeat") {
		return bytes.Repeat(r.Hex("msg"), r.Int("repeat"))
	}
	return r.Hex("msg")
}

func hashCheck(h func() hash.Hash) func(vectors.Record) error {
	return func(r vectors.Record) error {
		if r.Has("repeat") && r.Int("repeat") < 1 {
			return errors.New("repeat must be at least 1")
		}
		d := h()
		d.Write(message(r))
		return mismatch("digest", d.Sum(nil), r.Hex("digest"))
	}
}

func hmacCheck(h func() hash.Hash) func(vectors.Record) error {
	return func(r vectors.Record) error {
		m := hmac.New(h, r.Hex("key"))
		m.Write(r.Hex("msg"))
		full := m.Sum(nil)
		want := r.Hex("mac")
		if len(want) < 12 || len(want) > len(full) {
			return fmt.Errorf("mac is %d bytes, want 12 to %d", len(want), len(full))
		}
		return mismatch("HMAC (leading bytes)", full[:len(want)], want)
	}
}

func cbcEncrypt(key, iv, pt []byte) ([]byte, error) {
	b, err := newAES(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("iv is %d bytes, want 16", len(iv))
	}
	if len(pt)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("plaintext is %d bytes, not whole blocks", len(pt))
	}
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, pt)
	return ct, nil
}

func checkCBC(r vectors.Record) error {
	key, iv, pt, ct := r.Hex("key"), r.Hex("iv"), r.Hex("pt"), r.Hex("ct")
	if len(pt) == 0 {
		return errors.New("empty plaintext")
	}
	got, err := cbcEncrypt(key, iv, pt)
	if err != nil {
		return err
	}
	if err := mismatch("AES-128-CBC-Encrypt", got, ct); err != nil {
		return err
	}
	b, _ := newAES(key)
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(got, ct)
	return mismatch("AES-128-CBC-Decrypt", got, pt)
}

func checkCTR(r vectors.Record) error {
	b, err := newAES(r.Hex("key"))
	if err != nil {
		return err
	}
	nonce, iv, ctrBlock := r.Hex("nonce"), r.Hex("iv"), r.Hex("ctr_block")
	if len(nonce) != 4 || len(iv) != 8 {
		return fmt.Errorf("nonce and iv are %d and %d bytes, want 4 and 8 (RFC 3686)", len(nonce), len(iv))
	}
	first := append(append(bytes.Clone(nonce), iv...), 0, 0, 0, 1)
	if err := mismatch("nonce || iv || 00000001", first, ctrBlock); err != nil {
		return err
	}
	pt, ct := r.Hex("pt"), r.Hex("ct")
	if len(pt) == 0 || len(ct) != len(pt) {
		return fmt.Errorf("pt and ct are %d and %d bytes", len(pt), len(ct))
	}
	got := make([]byte, len(pt))
	cipher.NewCTR(b, first).XORKeyStream(got, pt)
	return mismatch("AES-128-CTR", got, ct)
}

func checkCCM(r vectors.Record) error {
	b, err := newAES(r.Hex("key"))
	if err != nil {
		return err
	}
	nonce, aad, pt, ct, tag := r.Hex("nonce"), r.Hex("aad"), r.Hex("pt"), r.Hex("ct"), r.Hex("tag")
	a, err := ccm.New(b, len(tag), len(nonce))
	if err != nil {
		return err
	}
	sealed := append(bytes.Clone(ct), tag...)
	if len(ct) != len(pt) {
		return fmt.Errorf("pt and ct are %d and %d bytes", len(pt), len(ct))
	}
	opened, openErr := a.Open(nil, nonce, sealed, aad)
	if r.ExpectFail() {
		if openErr == nil {
			return errors.New("negative vector opened")
		}
		return nil
	}
	if openErr != nil {
		return fmt.Errorf("Open: %w", openErr)
	}
	if err := mismatch("CCM Open", opened, pt); err != nil {
		return err
	}
	return mismatch("CCM Seal (ct || tag)", a.Seal(nil, nonce, pt, aad), sealed)
}

// checkESPCBC rebuilds the ESP packet of RFC 3602 section 4 cases 5-8: SPI
// || sequence number || IV || AES-CBC(pt || 01 02 .. || pad length || next
// header), with the least padding that fills the last block (RFC 4303
// section 2.4), and also decrypts the published packet back to pt.
func checkESPCBC(r vectors.Record) error {
	key, spi, seq, iv, next := r.Hex("key"), r.Hex("spi"), r.Hex("seq"), r.Hex("iv"), r.Hex("next")
	pt, packet := r.Hex("pt"), r.Hex("packet")
	if len(spi) != 4 || len(seq) != 4 || len(next) != 1 {
		return fmt.Errorf("spi, seq, next are %d, %d, %d bytes; want 4, 4, 1", len(spi), len(seq), len(next))
	}
	padLen := (aes.BlockSize - (len(pt)+2)%aes.BlockSize) % aes.BlockSize
	inner := bytes.Clone(pt)
	for i := 1; i <= padLen; i++ {
		inner = append(inner, byte(i))
	}
	inner = append(inner, byte(padLen), next[0])
	ct, err := cbcEncrypt(key, iv, inner)
	if err != nil {
		return err
	}
	want := slices.Concat(spi, seq, iv, ct)
	if err := mismatch("ESP packet", want, packet); err != nil {
		return err
	}
	// The receiving side: split the published packet and decrypt it.
	body := packet[8+aes.BlockSize:]
	b, _ := newAES(key)
	dec := make([]byte, len(body))
	cipher.NewCBCDecrypter(b, packet[8:8+aes.BlockSize]).CryptBlocks(dec, body)
	n := len(dec) - 2 - int(dec[len(dec)-2])
	if n < 0 {
		return errors.New("decrypted pad length exceeds the payload")
	}
	if dec[len(dec)-1] != next[0] {
		return fmt.Errorf("decrypted next header %#x, want %#x", dec[len(dec)-1], next[0])
	}
	return mismatch("decrypted payload", dec[:n], pt)
}

// checkCMAC recomputes the full 16-byte AES-CMAC (RFC 4493) with pkg/cmac,
// whose own tests also run openssl's CMAC on random inputs.
func checkCMAC(r vectors.Record) error {
	b, err := newAES(r.Hex("key"))
	if err != nil {
		return err
	}
	m, err := cmac.New(b)
	if err != nil {
		return err
	}
	if want := r.Hex("mac"); len(want) != cmac.Size {
		return fmt.Errorf("mac is %d bytes, want %d", len(want), cmac.Size)
	}
	return mismatch("AES-CMAC", m.Sum(nil, r.Hex("msg")), r.Hex("mac"))
}

// checkRSA verifies an RSASSA-PKCS1-v1_5 SHA-256 record with crypto/rsa
// (e = 65537): exactly one of msg and hash, n of 128 or 256 bytes with the
// top bit set, sig as long as n; valid records must verify, result = fail
// records must not.
func checkRSA(r vectors.Record) error {
	n, sig := r.Hex("n"), r.Hex("sig")
	if r.Has("msg") == r.Has("hash") {
		return errors.New("want exactly one of msg and hash")
	}
	if (len(n) != 128 && len(n) != 256) || n[0]&0x80 == 0 {
		return fmt.Errorf("modulus of %d bytes, want 1024 or 2048 bits", len(n))
	}
	if len(sig) != len(n) {
		return fmt.Errorf("sig is %d bytes, n %d", len(sig), len(n))
	}
	h := r.Hex("hash")
	if r.Has("msg") {
		s := sha256.Sum256(r.Hex("msg"))
		h = s[:]
	}
	if len(h) != 32 {
		return fmt.Errorf("hash is %d bytes, want 32", len(h))
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h, sig)
	if r.ExpectFail() {
		if err == nil {
			return errors.New("negative vector verifies")
		}
		return nil
	}
	return err
}
