package ccm_test

import (
	"bytes"
	"crypto/aes"
	"testing"

	"github.com/mstool/mstool/pkg/ccm"
)

// FuzzOpen feeds arbitrary messages, nonces and additional data to Open with
// every tag and nonce size: it must never panic, must fail with ErrOpen
// unless the input authenticates, and a message it sealed itself must open.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), uint8(0), uint8(0), []byte("nonce-bytes-13"), []byte("ciphertext and tag"), []byte("aad"))
	f.Add(make([]byte, 16), uint8(6), uint8(4), make([]byte, 13), make([]byte, 3), []byte{})
	f.Add(make([]byte, 16), uint8(2), uint8(6), make([]byte, 13), []byte{}, make([]byte, 300))
	f.Fuzz(func(t *testing.T, key []byte, m, n uint8, nonce, msg, aad []byte) {
		if len(key) < 16 {
			return
		}
		block, err := aes.NewCipher(key[:16])
		if err != nil {
			t.Fatal(err)
		}
		tagSize := 4 + 2*int(m%7)
		nonceSize := 7 + int(n%7)
		a, err := ccm.New(block, tagSize, nonceSize)
		if err != nil {
			t.Fatal(err)
		}
		// Before the append below, which may write into key: the fuzzer's
		// arguments can share memory.
		fast, err := ccm.NewAES(key[:16], tagSize, nonceSize)
		if err != nil {
			t.Fatal(err)
		}
		nonce = append(nonce, make([]byte, 13)...)[:nonceSize]
		out, err := a.Open(nil, nonce, msg, aad)
		if out2, err2 := fast.Open(nil, nonce, msg, aad); err2 != err || !bytes.Equal(out2, out) {
			t.Fatalf("NewAES Open = %x, %v; New's = %x, %v", out2, err2, out, err)
		}
		if err == nil {
			// Only a genuine message opens: it must re-seal to the input.
			if again := a.Seal(nil, nonce, out, aad); !bytes.Equal(again, msg) {
				t.Fatalf("opened a forgery: %x", msg)
			}
		} else if err != ccm.ErrOpen || out != nil {
			t.Fatalf("Open = %x, %v", out, err)
		}
		if len(msg) > 1<<16-1 && nonceSize == 13 {
			return
		}
		sealed := a.Seal(nil, nonce, msg, aad)
		if !bytes.Equal(fast.Seal(nil, nonce, msg, aad), sealed) {
			t.Fatalf("NewAES Seal differs")
		}
		pt, err := a.Open(nil, nonce, sealed, aad)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("round trip: %v", err)
		}
		sealed[len(sealed)-1] ^= 1
		if _, err := a.Open(nil, nonce, sealed, aad); err != ccm.ErrOpen {
			t.Fatalf("modified tag: %v", err)
		}
	})
}
