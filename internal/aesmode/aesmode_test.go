package aesmode

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestSbox checks the computed S-box against FIPS 197 Figure 7.
func TestSbox(t *testing.T) {
	for in, want := range map[byte]byte{0x00: 0x63, 0x01: 0x7c, 0x53: 0xed, 0xff: 0x16, 0x10: 0xca, 0x9a: 0xb8} {
		if got := subByte(in); got != want {
			t.Errorf("subByte(%#02x) = %#02x, want %#02x", in, got, want)
		}
	}
	seen := map[byte]bool{}
	for x := 0; x < 256; x++ {
		seen[subByte(byte(x))] = true
	}
	if len(seen) != 256 {
		t.Errorf("the S-box is not a permutation")
	}
}

// TestFIPS197 decrypts the FIPS 197 Appendix C examples (one block, IV 0).
func TestFIPS197(t *testing.T) {
	pt, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	for _, c := range []struct{ key, ct string }{
		{"000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"},
		{"000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"},
		{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "8ea2b7ca516745bfeafc49904b496089"},
	} {
		key, _ := hex.DecodeString(c.key)
		ct, _ := hex.DecodeString(c.ct)
		d, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 16)
		d.DecryptCBC(got, ct, make([]byte, 16))
		if !bytes.Equal(got, pt) {
			t.Errorf("AES-%d: got %x, want %x", 8*len(key), got, pt)
		}
	}
}

// TestAgainstCryptoCipher compares every length up to 40 blocks, every key
// size, separate and in-place buffers, with crypto/cipher's CBC decrypter.
func TestAgainstCryptoCipher(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'c', 'b', 'c'}))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	for _, ks := range []int{16, 24, 32} {
		for trial := 0; trial < 5; trial++ {
			key := make([]byte, ks)
			fill(key)
			d, err := New(key)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := aes.NewCipher(key)
			for n := 0; n <= 40; n++ {
				src := make([]byte, n*16)
				iv := make([]byte, 16)
				fill(src)
				fill(iv)
				want := make([]byte, len(src))
				cipher.NewCBCDecrypter(b, iv).CryptBlocks(want, src)
				ivCopy := bytes.Clone(iv)
				got := make([]byte, len(src)+16) // longer dst: the rest untouched
				d.DecryptCBC(got, src, iv)
				if !bytes.Equal(got[:len(src)], want) || !bytes.Equal(got[len(src):], make([]byte, 16)) {
					t.Fatalf("AES-%d, %d blocks: differs from crypto/cipher", 8*ks, n)
				}
				if !bytes.Equal(iv, ivCopy) {
					t.Fatalf("AES-%d, %d blocks: iv modified", 8*ks, n)
				}
				inPlace := bytes.Clone(src)
				d.DecryptCBC(inPlace, inPlace, iv)
				if !bytes.Equal(inPlace, want) {
					t.Fatalf("AES-%d, %d blocks: in place differs from crypto/cipher", 8*ks, n)
				}
			}
		}
	}
}

func TestBadLengths(t *testing.T) {
	d, _ := New(make([]byte, 16))
	for _, c := range []struct{ dst, src, iv int }{{16, 15, 16}, {15, 16, 16}, {16, 16, 8}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("dst %d, src %d, iv %d: no panic", c.dst, c.src, c.iv)
				}
			}()
			d.DecryptCBC(make([]byte, c.dst), make([]byte, c.src), make([]byte, c.iv))
		}()
	}
	if _, err := New(make([]byte, 15)); err == nil {
		t.Error("New accepted a 15-byte key")
	}
}

func TestAllocs(t *testing.T) {
	d, _ := New(make([]byte, 16))
	buf, iv := make([]byte, 1024), make([]byte, 16)
	if n := testing.AllocsPerRun(10, func() { d.DecryptCBC(buf, buf, iv) }); n != 0 {
		t.Errorf("%v allocations per Decrypt", n)
	}
}

// BenchmarkDecrypt compares with crypto/cipher's CBC decrypter (SetIV, as
// pkg/esp reused it) on ESP-sized payloads.
func BenchmarkDecrypt(b *testing.B) {
	key := make([]byte, 16)
	for _, n := range []int{64, 512, 1408} {
		src, dst, iv := make([]byte, n), make([]byte, n), make([]byte, 16)
		b.Run("aesmode/"+itoa(n), func(b *testing.B) {
			d, _ := New(key)
			b.SetBytes(int64(n))
			for b.Loop() {
				d.DecryptCBC(dst, src, iv)
			}
		})
		b.Run("crypto-cipher/"+itoa(n), func(b *testing.B) {
			blk, _ := aes.NewCipher(key)
			m := cipher.NewCBCDecrypter(blk, iv)
			b.SetBytes(int64(n))
			for b.Loop() {
				m.(interface{ SetIV([]byte) }).SetIV(iv)
				m.CryptBlocks(dst, src)
			}
		})
	}
}

// TestMAC compares MAC with CBC encryption's last block (CBC-MAC is
// CBC encryption with the state as IV, keeping only the last block).
func TestMAC(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'m', 'a', 'c'}))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	for _, ks := range []int{16, 24, 32} {
		key := make([]byte, ks)
		fill(key)
		k, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := aes.NewCipher(key)
		for n := 0; n <= 20; n++ {
			data := make([]byte, 16*n)
			var x [16]byte
			fill(data)
			fill(x[:])
			want := bytes.Clone(x[:])
			if n > 0 {
				ct := make([]byte, len(data))
				cipher.NewCBCEncrypter(b, x[:]).CryptBlocks(ct, data)
				want = ct[len(ct)-16:]
			}
			k.MAC(&x, data)
			if !bytes.Equal(x[:], want) {
				t.Fatalf("AES-%d, %d blocks: MAC differs from CBC encryption", 8*ks, n)
			}
		}
	}
}

// TestXORCTR compares XORCTR with crypto/cipher's CTR on every length up
// to 40 blocks, in place and not, and in pieces; and checks the carry when
// the low 32 bits of the counter wrap.
func TestXORCTR(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'c', 't', 'r'}))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	for _, ks := range []int{16, 24, 32} {
		key := make([]byte, ks)
		fill(key)
		k, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := aes.NewCipher(key)
		for _, low := range []uint32{1, 0xfffffffa, 0xffffffff} {
			for n := 0; n <= 16*40+3; n += 1 + n/16 {
				var ctr [16]byte
				fill(ctr[:12])
				ctr[12], ctr[13], ctr[14], ctr[15] = byte(low>>24), byte(low>>16), byte(low>>8), byte(low)
				src := make([]byte, n)
				fill(src)
				want := make([]byte, n)
				cipher.NewCTR(b, bytes.Clone(ctr[:])).XORKeyStream(want, src) // carries through all 16 bytes
				got := make([]byte, n+16)
				c := ctr
				k.XORCTR(got, src, &c)
				if !bytes.Equal(got[:n], want) || !bytes.Equal(got[n:], make([]byte, 16)) {
					t.Fatalf("AES-%d, counter %#x, %d bytes: differs from crypto/cipher", 8*ks, low, n)
				}
				// The counter is left at the next unused block.
				wantNext := bytes.Clone(ctr[:])
				for i := 0; i < (n+15)/16; i++ {
					for j := 15; j >= 0; j-- {
						wantNext[j]++
						if wantNext[j] != 0 {
							break
						}
					}
				}
				if !bytes.Equal(c[:], wantNext) {
					t.Fatalf("AES-%d, counter %#x, %d bytes: counter left at %x, want %x", 8*ks, low, n, c, wantNext)
				}
				// In place, in two pieces split at a block boundary.
				inPlace := bytes.Clone(src)
				c = ctr
				split := n / 32 * 16
				k.XORCTR(inPlace[:split], inPlace[:split], &c)
				k.XORCTR(inPlace[split:], inPlace[split:], &c)
				if !bytes.Equal(inPlace, want) {
					t.Fatalf("AES-%d, counter %#x, %d bytes: in place differs", 8*ks, low, n)
				}
			}
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
