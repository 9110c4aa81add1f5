package ccm_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mstool/mstool/internal/vectors"
	"github.com/mstool/mstool/pkg/ccm"
)

// rfc3610 loads the 24 packet vectors of RFC 3610 section 8.
func rfc3610(t testing.TB) []vectors.Record {
	t.Helper()
	dir, err := vectors.Dir()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := vectors.Load(filepath.Join(dir, "aes-ccm.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 24 {
		t.Fatalf("aes-ccm.txt has %d records, want the 24 RFC 3610 packet vectors", len(recs))
	}
	return recs
}

func newAEAD(t testing.TB, key []byte, tagSize, nonceSize int) cipher.AEAD {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ccm.New(b, tagSize, nonceSize)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRFC3610(t *testing.T) {
	for _, r := range rfc3610(t) {
		t.Run(r.Source, func(t *testing.T) {
			if r.Alg != "aes-128-ccm" {
				t.Fatalf("%s: alg %q", r.Pos(), r.Alg)
			}
			if err := r.Require("key", "nonce", "aad", "pt", "ct", "tag"); err != nil {
				t.Fatal(err)
			}
			key, nonce, aad := r.Hex("key"), r.Hex("nonce"), r.Hex("aad")
			pt, ct, tag := r.Hex("pt"), r.Hex("ct"), r.Hex("tag")
			a := newAEAD(t, key, len(tag), len(nonce))
			want := append(append([]byte{}, ct...), tag...)
			fast, err := ccm.NewAES(key, len(tag), len(nonce))
			if err != nil {
				t.Fatal(err)
			}
			if got := fast.Seal(nil, nonce, pt, aad); !bytes.Equal(got, want) {
				t.Errorf("NewAES: Seal = %x, want %x", got, want)
			}
			if got, err := fast.Open(nil, nonce, want, aad); err != nil || !bytes.Equal(got, pt) {
				t.Errorf("NewAES: Open = %x, %v", got, err)
			}

			prefix := []byte("prefix")
			got := a.Seal(bytes.Clone(prefix), nonce, pt, aad)
			if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
				t.Fatalf("%s: Seal = %x, want %x", r.Pos(), got[len(prefix):], want)
			}
			open, err := a.Open(bytes.Clone(prefix), nonce, want, aad)
			if err != nil || !bytes.Equal(open[len(prefix):], pt) {
				t.Fatalf("%s: Open = %x, %v; want %x", r.Pos(), open, err, pt)
			}

			// In place, both ways.
			buf := make([]byte, len(pt), len(pt)+len(tag))
			copy(buf, pt)
			sealed := a.Seal(buf[:0], nonce, buf, aad)
			if !bytes.Equal(sealed, want) || &sealed[0] != &buf[0] {
				t.Fatalf("%s: in-place Seal = %x, want %x in the same buffer", r.Pos(), sealed, want)
			}
			opened, err := a.Open(sealed[:0], nonce, sealed, aad)
			if err != nil || !bytes.Equal(opened, pt) {
				t.Fatalf("%s: in-place Open = %x, %v; want %x", r.Pos(), opened, err, pt)
			}
		})
	}
}

// TestBitFlips flips every bit of the tag, ciphertext, nonce and additional
// data of each RFC 3610 vector: every flip must fail with ErrOpen and leave
// a zeroed output.
func TestBitFlips(t *testing.T) {
	for _, r := range rfc3610(t) {
		key, nonce, aad := r.Hex("key"), r.Hex("nonce"), r.Hex("aad")
		sealed := append(r.Hex("ct"), r.Hex("tag")...)
		a := newAEAD(t, key, len(r.Hex("tag")), len(nonce))
		if _, err := a.Open(nil, nonce, sealed, aad); err != nil {
			t.Fatalf("%s: unmodified vector does not open: %v", r.Pos(), err)
		}
		parts := []struct {
			name string
			b    []byte
		}{{"ciphertext+tag", sealed}, {"nonce", nonce}, {"aad", aad}}
		for _, p := range parts {
			for bit := 0; bit < 8*len(p.b); bit++ {
				p.b[bit/8] ^= 1 << (bit % 8)
				dst := make([]byte, 0, len(sealed))
				out, err := a.Open(dst, nonce, sealed, aad)
				p.b[bit/8] ^= 1 << (bit % 8)
				if err != ccm.ErrOpen || out != nil {
					t.Fatalf("%s: flipping %s bit %d: Open = %x, %v; want nil, %v", r.Pos(), p.name, bit, out, err, ccm.ErrOpen)
				}
				if w := dst[:len(sealed)-a.Overhead()]; !bytes.Equal(w, make([]byte, len(w))) {
					t.Fatalf("%s: flipping %s bit %d: output not zeroed: %x", r.Pos(), p.name, bit, w)
				}
			}
		}
		// Truncated and extended messages fail too.
		for n := 0; n < len(sealed); n++ {
			if _, err := a.Open(nil, nonce, sealed[:n], aad); err != ccm.ErrOpen {
				t.Fatalf("%s: truncated to %d bytes: err = %v", r.Pos(), n, err)
			}
		}
		if _, err := a.Open(nil, nonce, append(bytes.Clone(sealed), 0), aad); err != ccm.ErrOpen {
			t.Fatalf("%s: extended by one byte: err = %v", r.Pos(), err)
		}
	}
}

func TestErrorText(t *testing.T) {
	if got := ccm.ErrOpen.Error(); got != "ccm: message authentication failed" {
		t.Fatalf("ErrOpen = %q", got)
	}
}

// TestRoundTrip covers every tag and nonce size and the a-length encodings
// of RFC 3610 §2.2 on each side of their boundaries, plus empty inputs.
func TestRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 16)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aadLens := []int{0, 1, 14, 15, 16, 17, 1<<16 - 1<<8 - 1, 1<<16 - 1<<8, 1<<16 + 3}
	ptLens := []int{0, 1, 15, 16, 17, 255, 256, 1000}
	for m := 4; m <= 16; m += 2 {
		for n := 7; n <= 13; n++ {
			a, err := ccm.New(block, m, n)
			if err != nil {
				t.Fatal(err)
			}
			if a.NonceSize() != n || a.Overhead() != m {
				t.Fatalf("NonceSize, Overhead = %d, %d; want %d, %d", a.NonceSize(), a.Overhead(), n, m)
			}
			nonce := bytes.Repeat([]byte{byte(n)}, n)
			for _, la := range aadLens {
				for _, lp := range ptLens {
					if n == 13 && lp > 0xffff { // L = 2
						continue
					}
					aad := pattern(la, 1)
					pt := pattern(lp, 2)
					sealed := a.Seal(nil, nonce, pt, aad)
					if len(sealed) != lp+m {
						t.Fatalf("M=%d N=%d la=%d lp=%d: sealed %d bytes", m, n, la, lp, len(sealed))
					}
					got, err := a.Open(nil, nonce, sealed, aad)
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("M=%d N=%d la=%d lp=%d: Open: %v", m, n, la, lp, err)
					}
					if la > 0 {
						aad[la-1] ^= 0x80
						if _, err := a.Open(nil, nonce, sealed, aad); err != ccm.ErrOpen {
							t.Fatalf("M=%d N=%d la=%d lp=%d: modified aad: %v", m, n, la, lp, err)
						}
					}
				}
			}
		}
	}
}

// TestALengthEncoding pins the 2-byte / 0xfffe+4-byte switch of RFC 3610
// §2.2: the MAC over l(a) = 0xfeff and 0xff00 must differ from a naive
// 2-byte encoding, which is checked by computing the tag independently.
func TestALengthEncoding(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	block, _ := aes.NewCipher(key)
	nonce := bytes.Repeat([]byte{9}, 13)
	a, _ := ccm.New(block, 16, 13)
	for _, la := range []int{1, 0xfeff, 0xff00, 0x10000} {
		aad := pattern(la, 3)
		pt := pattern(20, 4)
		got := a.Seal(nil, nonce, pt, aad)
		want := referenceSeal(block, 16, nonce, pt, aad)
		if !bytes.Equal(got, want) {
			t.Errorf("la=%#x: Seal = %x, reference %x", la, got, want)
		}
	}
}

// referenceSeal is a direct, byte-at-a-time transcription of RFC 3610 §2.2
// and §2.3 used to check the optimised code on inputs with no published
// vector (long additional data).
func referenceSeal(b cipher.Block, m int, nonce, pt, aad []byte) []byte {
	l := 15 - len(nonce)
	var blocks []byte
	b0 := make([]byte, 16)
	b0[0] = byte((m-2)/2)<<3 | byte(l-1)
	if len(aad) > 0 {
		b0[0] |= 0x40
	}
	copy(b0[1:], nonce)
	for i, v := 0, len(pt); i < l; i, v = i+1, v>>8 {
		b0[15-i] = byte(v)
	}
	blocks = append(blocks, b0...)
	if len(aad) > 0 {
		var enc []byte
		if len(aad) < 0xff00 {
			enc = []byte{byte(len(aad) >> 8), byte(len(aad))}
		} else {
			enc = []byte{0xff, 0xfe, byte(len(aad) >> 24), byte(len(aad) >> 16), byte(len(aad) >> 8), byte(len(aad))}
		}
		enc = append(enc, aad...)
		for len(enc)%16 != 0 {
			enc = append(enc, 0)
		}
		blocks = append(blocks, enc...)
	}
	p := append([]byte{}, pt...)
	for len(p)%16 != 0 {
		p = append(p, 0)
	}
	blocks = append(blocks, p...)
	x := make([]byte, 16)
	for i := 0; i < len(blocks); i += 16 {
		for j := 0; j < 16; j++ {
			x[j] ^= blocks[i+j]
		}
		b.Encrypt(x, x)
	}
	a := make([]byte, 16)
	a[0] = byte(l - 1)
	copy(a[1:], nonce)
	s := make([]byte, 16)
	out := make([]byte, len(pt)+m)
	for i := 0; i*16 < len(pt); i++ {
		ctr := i + 1
		for k := 0; k < l; k++ {
			a[15-k] = byte(ctr >> (8 * k))
		}
		b.Encrypt(s, a)
		for j := 0; j < 16 && i*16+j < len(pt); j++ {
			out[i*16+j] = pt[i*16+j] ^ s[j]
		}
	}
	for k := 0; k < l; k++ {
		a[15-k] = 0
	}
	b.Encrypt(s, a)
	for j := 0; j < m; j++ {
		out[len(pt)+j] = x[j] ^ s[j]
	}
	return out
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestNewRejects(t *testing.T) {
	block, _ := aes.NewCipher(make([]byte, 16))
	tests := []struct {
		name      string
		block     cipher.Block
		tag, nonc int
	}{
		{"nil block", nil, 16, 13},
		{"8-byte block", fakeBlock{8}, 16, 13},
		{"tag 0", block, 0, 13},
		{"tag 2", block, 2, 13},
		{"tag 5", block, 5, 13},
		{"tag 18", block, 18, 13},
		{"nonce 6", block, 16, 6},
		{"nonce 14", block, 16, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := ccm.New(tt.block, tt.tag, tt.nonc); err == nil {
				t.Fatalf("New accepted it: %v", a)
			}
		})
	}
}

type fakeBlock struct{ n int }

func (f fakeBlock) BlockSize() int          { return f.n }
func (f fakeBlock) Encrypt(dst, src []byte) { copy(dst, src) }
func (f fakeBlock) Decrypt(dst, src []byte) { copy(dst, src) }

func TestPanics(t *testing.T) {
	block, _ := aes.NewCipher(make([]byte, 16))
	a, _ := ccm.New(block, 8, 13) // L = 2
	buf := make([]byte, 64)
	tests := []struct {
		name string
		f    func()
	}{
		{"seal short nonce", func() { a.Seal(nil, make([]byte, 12), nil, nil) }},
		{"open long nonce", func() { a.Open(nil, make([]byte, 14), make([]byte, 8), nil) }},
		{"seal too long for L=2", func() { a.Seal(nil, make([]byte, 13), make([]byte, 1<<16), nil) }},
		{"seal inexact overlap", func() { a.Seal(buf[1:1], make([]byte, 13), buf[:16], nil) }},
		{"open inexact overlap", func() { a.Open(buf[1:1], make([]byte, 13), buf[:24], nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
	// The largest L=2 payload is fine; Open of an over-long message fails
	// without panicking.
	nonce := make([]byte, 13)
	s := a.Seal(nil, nonce, make([]byte, 1<<16-1), nil)
	if _, err := a.Open(nil, nonce, s, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Open(nil, nonce, make([]byte, 1<<16+8), nil); err != ccm.ErrOpen {
		t.Fatalf("over-long Open: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under coverage or the race detector")
	}
	r := rfc3610(t)[23]
	slow := newAEAD(t, r.Hex("key"), len(r.Hex("tag")), len(r.Hex("nonce")))
	fast, err := ccm.NewAES(r.Hex("key"), len(r.Hex("tag")), len(r.Hex("nonce")))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []cipher.AEAD{slow, fast} {
		nonce, aad, pt := r.Hex("nonce"), r.Hex("aad"), r.Hex("pt")
		sealed := a.Seal(nil, nonce, pt, aad)
		dst := make([]byte, 0, 256)
		for _, tt := range []struct {
			name string
			f    func()
		}{
			{"Seal", func() { a.Seal(dst, nonce, pt, aad) }},
			{"Open", func() {
				if _, err := a.Open(dst, nonce, sealed, aad); err != nil {
					panic(err)
				}
			}},
			{"Open failure", func() { a.Open(dst, nonce, sealed[1:], aad) }},
		} {
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
			}
		}
	}
}

func ExampleNew() {
	key := []byte("0123456789abcdef")
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	// RFC 4309 ESP: 16-byte ICV, 11-byte nonce (3-byte salt ‖ 8-byte IV).
	aead, err := ccm.New(block, 16, 11)
	if err != nil {
		panic(err)
	}
	nonce := make([]byte, aead.NonceSize())
	sealed := aead.Seal(nil, nonce, []byte("hello"), []byte("header"))
	plain, err := aead.Open(nil, nonce, sealed, []byte("header"))
	fmt.Println(len(sealed), string(plain), err)
	// Output: 21 hello <nil>
}

// TestNewAES checks that NewAES computes what New on crypto/aes computes,
// for every tag and nonce size, key size and many lengths (whole and
// partial blocks, past eight-block strides), in place and not.
func TestNewAES(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'n', 'e', 'w', 'a', 'e', 's'}))
	fill := func(b []byte) []byte {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	lens := []int{0, 1, 15, 16, 17, 31, 32, 127, 128, 129, 255, 256, 1000, 1400}
	for _, ks := range []int{16, 24, 32} {
		key := fill(make([]byte, ks))
		block, _ := aes.NewCipher(key)
		for m := 4; m <= 16; m += 2 {
			for n := 7; n <= 13; n++ {
				ref, err := ccm.New(block, m, n)
				if err != nil {
					t.Fatal(err)
				}
				fast, err := ccm.NewAES(key, m, n)
				if err != nil {
					t.Fatal(err)
				}
				for _, la := range []int{0, 5, 16, 40} {
					for _, lp := range lens {
						nonce, aad, pt := fill(make([]byte, n)), fill(make([]byte, la)), fill(make([]byte, lp))
						want := ref.Seal(nil, nonce, pt, aad)
						if got := fast.Seal(nil, nonce, pt, aad); !bytes.Equal(got, want) {
							t.Fatalf("AES-%d M=%d N=%d la=%d lp=%d: Seal differs", 8*ks, m, n, la, lp)
						}
						inPlace := append(bytes.Clone(pt), make([]byte, m)...)
						if got := fast.Seal(inPlace[:0], nonce, pt, aad); !bytes.Equal(got, want) {
							t.Fatalf("AES-%d M=%d N=%d la=%d lp=%d: in-place Seal differs", 8*ks, m, n, la, lp)
						}
						got, err := fast.Open(want[:0], nonce, want, aad)
						if err != nil || !bytes.Equal(got, pt) {
							t.Fatalf("AES-%d M=%d N=%d la=%d lp=%d: in-place Open: %v", 8*ks, m, n, la, lp, err)
						}
						want = ref.Seal(nil, nonce, pt, aad)
						if lp > 0 {
							want[0] ^= 1
							if _, err := fast.Open(nil, nonce, want, aad); err != ccm.ErrOpen {
								t.Fatalf("AES-%d M=%d N=%d la=%d lp=%d: modified ciphertext: %v", 8*ks, m, n, la, lp, err)
							}
						}
					}
				}
			}
		}
	}
	if _, err := ccm.NewAES(make([]byte, 15), 16, 11); err == nil {
		t.Error("NewAES accepted a 15-byte key")
	}
}
