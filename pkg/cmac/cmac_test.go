package cmac_test

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/cmac"
)

func newMAC(t testing.TB, key []byte) *cmac.MAC {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cmac.New(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRFC4493 checks every record of vectors/aes-cmac.txt, and that a
// changed message, key or tag fails.
func TestRFC4493(t *testing.T) {
	path, err := vectors.Path("aes-cmac.txt")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := vectors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want RFC 4493's 4 examples", len(recs))
	}
	for _, r := range recs {
		if err := r.Require("key", "msg", "mac"); err != nil {
			t.Fatal(err)
		}
		key, msg, mac := r.Hex("key"), r.Hex("msg"), r.Hex("mac")
		m := newMAC(t, key)
		if got := m.Sum(nil, msg); !bytes.Equal(got, mac) {
			t.Errorf("%s: CMAC = %x, want %x", r.Pos(), got, mac)
		}
		if !m.Verify(msg, mac) {
			t.Errorf("%s: Verify rejects the published tag", r.Pos())
		}
		if !m.Verify(msg, mac[:8]) {
			t.Errorf("%s: Verify rejects the 8-byte truncated tag", r.Pos())
		}
		bad := bytes.Clone(mac)
		bad[15] ^= 1
		if m.Verify(msg, bad) {
			t.Errorf("%s: Verify accepts a changed tag", r.Pos())
		}
		if m.Verify(append(bytes.Clone(msg), 0), mac) {
			t.Errorf("%s: Verify accepts a longer message", r.Pos())
		}
		if len(msg) > 0 {
			m2 := bytes.Clone(msg)
			m2[len(m2)-1] ^= 0x80
			if m.Verify(m2, mac) {
				t.Errorf("%s: Verify accepts a changed message", r.Pos())
			}
		}
		key[0] ^= 1
		if newMAC(t, key).Verify(msg, mac) {
			t.Errorf("%s: Verify accepts another key", r.Pos())
		}
	}
}

// TestPaddingBoundary: a message of 15 bytes and its 16-byte padded form
// (msg ‖ 80) must not collide (K1 versus K2).
func TestPaddingBoundary(t *testing.T) {
	m := newMAC(t, make([]byte, 16))
	a := bytes.Repeat([]byte{1}, 15)
	b := append(bytes.Clone(a), 0x80)
	if bytes.Equal(m.Sum(nil, a), m.Sum(nil, b)) {
		t.Fatal("padded and complete last blocks give the same tag")
	}
}

func TestShortTagRejected(t *testing.T) {
	m := newMAC(t, make([]byte, 16))
	tag := m.Sum(nil, nil)
	for _, n := range []int{0, 4, 7, 17} {
		tt := tag
		if n <= len(tag) {
			tt = tag[:n]
		} else {
			tt = append(bytes.Clone(tag), 0)
		}
		if m.Verify(nil, tt) {
			t.Errorf("Verify accepts a %d-byte tag", n)
		}
	}
}

// TestOpenSSL compares random keys and messages of every length 0..80
// with openssl's CMAC (openssl mac), an implementation we did not write.
func TestOpenSSL(t *testing.T) {
	openssl := testenv.Tool(t, "openssl", "openssl")
	for n := 0; n <= 80; n += 7 {
		key := make([]byte, 16)
		msg := make([]byte, n)
		rand.Read(key)
		rand.Read(msg)
		cmd := exec.Command(openssl, "mac", "-cipher", "AES-128-CBC", "-macopt", "hexkey:"+hex.EncodeToString(key), "CMAC")
		cmd.Stdin = bytes.NewReader(msg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl mac: %v", err)
		}
		want := strings.ToLower(strings.TrimSpace(string(out)))
		if got := hex.EncodeToString(newMAC(t, key).Sum(nil, msg)); got != want {
			t.Errorf("len %d: CMAC %s, openssl %s", n, got, want)
		}
	}
}

func TestBlockSize(t *testing.T) {
	if _, err := cmac.New(badBlock{}); err == nil {
		t.Fatal("accepted an 8-byte block cipher")
	}
}

type badBlock struct{}

func (badBlock) BlockSize() int          { return 8 }
func (badBlock) Encrypt(dst, src []byte) {}
func (badBlock) Decrypt(dst, src []byte) {}

func BenchmarkSum64(b *testing.B) {
	m := newMAC(b, make([]byte, 16))
	msg := make([]byte, 64)
	buf := make([]byte, 0, 16)
	b.SetBytes(64)
	for b.Loop() {
		buf = m.Sum(buf[:0], msg)
	}
}
