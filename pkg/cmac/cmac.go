// Package cmac implements AES-CMAC (RFC 4493, NIST SP 800-38B), the MAC and
// pseudorandom function MSSL derives its session keys with (docs/mssl.md).
// golang.org/x/crypto has no CMAC; this package is small and is checked
// against the RFC 4493 examples in vectors/aes-cmac.txt.
//
// CMAC works on any [cipher.Block] with a 16-byte block; in this project it
// is always [crypto/aes] with a 128-bit key (AES-CMAC). It is used only on
// the host side; the device has its own C implementation of the same
// algorithm.
package cmac

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// Size is the length of a CMAC tag in bytes (the block size).
const Size = 16

// BlockSize is the block size CMAC requires of its cipher.
const BlockSize = 16

// rb is the constant R_128 of RFC 4493 §2.3 (the low byte of 0^120 ‖ 10000111).
const rb = 0x87

// MAC computes CMAC tags under one key. It is safe for concurrent use.
type MAC struct {
	b      cipher.Block
	k1, k2 [BlockSize]byte
}

// New returns a CMAC for b, deriving the subkeys K1 and K2 (RFC 4493
// §2.3). b must have a 16-byte block size.
func New(b cipher.Block) (*MAC, error) {
	if b.BlockSize() != BlockSize {
		return nil, errors.New("cmac: cipher block size must be 16 bytes")
	}
	m := &MAC{b: b}
	var l [BlockSize]byte
	b.Encrypt(l[:], l[:]) // L = E_K(0^128)
	double(&m.k1, &l)
	double(&m.k2, &m.k1)
	clear(l[:])
	return m, nil
}

// double sets dst = src·x in GF(2^128): a left shift by one bit, and XOR
// with R_128 when the top bit was set (constant time).
func double(dst, src *[BlockSize]byte) {
	msb := src[0] >> 7
	for i := 0; i < BlockSize-1; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[BlockSize-1] = src[BlockSize-1]<<1 ^ byte(subtle.ConstantTimeSelect(int(msb), rb, 0))
}

// Sum appends the 16-byte CMAC of msg to dst and returns it.
func (m *MAC) Sum(dst, msg []byte) []byte {
	var x [BlockSize]byte
	n := len(msg)
	// All blocks but the last: X = E(X xor M_i).
	for n > BlockSize {
		subtle.XORBytes(x[:], x[:], msg[:BlockSize])
		m.b.Encrypt(x[:], x[:])
		msg, n = msg[BlockSize:], n-BlockSize
	}
	// The last block: complete (xor K1) or padded with 10..0 (xor K2).
	var last [BlockSize]byte
	copy(last[:], msg)
	if n == BlockSize {
		subtle.XORBytes(last[:], last[:], m.k1[:])
	} else {
		last[n] = 0x80
		subtle.XORBytes(last[:], last[:], m.k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	m.b.Encrypt(x[:], x[:])
	return append(dst, x[:]...)
}

// Verify reports whether tag is the CMAC of msg, in constant time. A
// truncated tag (at least 8 bytes) is compared against the leading bytes,
// as SP 800-38B §7 allows.
func (m *MAC) Verify(msg, tag []byte) bool {
	if len(tag) < 8 || len(tag) > Size {
		return false
	}
	var buf [Size]byte
	t := m.Sum(buf[:0], msg)
	return subtle.ConstantTimeCompare(t[:len(tag)], tag) == 1
}
