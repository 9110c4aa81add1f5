// Package aescbc decrypts AES-CBC several blocks at a time.
//
// crypto/cipher's CBC decrypter has no multi-block path on amd64: it calls
// the one-block AES-NI routine once per 16 bytes, through several layers,
// and XORs each block with a separate call (issue 13's profile: 25 % of
// `mstool decrypt`'s CPU on a CBC suite, of which a third was AES itself).
// CBC decryption, unlike encryption, is parallel: every block's AES
// decryption depends only on the ciphertext. On amd64 with AES-NI this
// package decrypts eight blocks at once, interleaved, in assembly; elsewhere
// (and with the purego build tag) it is crypto/cipher's CBC decrypter.
//
// The decryption key schedule is derived once per key (FIPS 197 §5.2 and
// §5.3.5, the equivalent inverse cipher that AESDEC implements); the tests
// check every key size and every length against crypto/cipher.
package aescbc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// BlockSize is the AES block size.
const BlockSize = aes.BlockSize

// Decrypter is the CBC decryption of one AES key. It holds no state besides
// the key schedule, so it may be used from many goroutines at once.
type Decrypter struct {
	rounds int
	dec    [15 * BlockSize]byte // decryption round keys, in AESDEC order
	block  cipher.Block         // fallback without AES-NI
}

// New returns the CBC decryption of key (16, 24 or 32 bytes).
func New(key []byte) (*Decrypter, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	d := &Decrypter{block: b}
	if useAsm {
		d.rounds = expandDec(key, &d.dec)
	}
	return d, nil
}

var errLength = errors.New("aescbc: input not full blocks, output too short or IV not one block")

// Decrypt decrypts src, whose length is a multiple of BlockSize, into dst
// under the initialisation vector iv. dst and src must overlap exactly or
// not at all. It panics on a bad length, as cipher.BlockMode does.
func (d *Decrypter) Decrypt(dst, src, iv []byte) {
	if len(src)%BlockSize != 0 || len(dst) < len(src) || len(iv) != BlockSize {
		panic(errLength)
	}
	if len(src) == 0 {
		return
	}
	if useAsm {
		var prev [BlockSize]byte
		copy(prev[:], iv)
		decryptBlocks(d.rounds, &d.dec[0], &dst[0], &src[0], len(src)/BlockSize, &prev[0])
		return
	}
	// Last block first: in place, the previous ciphertext block is still
	// there when a block is XORed with it.
	for i := len(src) - BlockSize; i >= 0; i -= BlockSize {
		b := dst[i : i+BlockSize]
		d.block.Decrypt(b, src[i:i+BlockSize])
		prev := iv
		if i > 0 {
			prev = src[i-BlockSize : i]
		}
		subtle.XORBytes(b, b, prev)
	}
}
