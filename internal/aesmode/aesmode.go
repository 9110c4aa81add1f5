// Package aesmode runs AES modes of operation several blocks at a time:
// CBC decryption, CBC-MAC (CCM's authentication) and counter mode (CCM's
// encryption).
//
// crypto/cipher's CBC decrypter has no multi-block path on amd64: it calls
// the one-block AES-NI routine once per 16 bytes, through several layers,
// and XORs each block with a separate call (issue 13's profile: 25 % of
// `mstool decrypt`'s CPU on a CBC suite, of which a third was AES itself).
// pkg/ccm called AES once per block for both its passes, the same way.
// On amd64 with AES-NI this package decrypts CBC and runs counter mode
// eight blocks at once, interleaved, in assembly, and chains CBC-MAC in a
// loop without a call per block (CBC-MAC is sequential: each block needs
// the previous one's result). Elsewhere, and with the purego build tag,
// it uses crypto/aes one block at a time.
//
// The key schedules are derived once per key (FIPS 197 §5.2; for
// decryption the equivalent inverse cipher of §5.3.5, which AESDEC
// implements); the tests check every key size and length against
// crypto/cipher.
package aesmode

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// BlockSize is the AES block size.
const BlockSize = aes.BlockSize

// Key is one AES key's schedules. It holds no other state, so it may be
// used from many goroutines at once.
type Key struct {
	rounds int
	enc    [15 * BlockSize]byte // encryption round keys, in AESENC order
	dec    [15 * BlockSize]byte // decryption round keys, in AESDEC order
	block  cipher.Block         // single blocks, and everything without AES-NI
}

// New returns the schedules of key (16, 24 or 32 bytes).
func New(key []byte) (*Key, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	k := &Key{block: b}
	if useAsm {
		k.rounds = expand(key, &k.enc, &k.dec)
	}
	return k, nil
}

// Accelerated reports whether the multi-block paths run in assembly. When
// they do not, MAC and XORCTR are correct but no faster than crypto/aes
// one block at a time, and allocate.
func Accelerated() bool { return useAsm }

// Block returns crypto/aes's cipher.Block for the key.
func (k *Key) Block() cipher.Block { return k.block }

var errLength = errors.New("aesmode: input not full blocks, output too short or IV not one block")

// DecryptCBC decrypts src, whose length is a multiple of BlockSize, into
// dst under the initialisation vector iv. dst and src must overlap exactly
// or not at all. It panics on a bad length, as cipher.BlockMode does.
func (k *Key) DecryptCBC(dst, src, iv []byte) {
	if len(src)%BlockSize != 0 || len(dst) < len(src) || len(iv) != BlockSize {
		panic(errLength)
	}
	if len(src) == 0 {
		return
	}
	if useAsm {
		var prev [BlockSize]byte
		copy(prev[:], iv)
		decryptCBC(k.rounds, &k.dec[0], &dst[0], &src[0], len(src)/BlockSize, &prev[0])
		return
	}
	// Last block first: in place, the previous ciphertext block is still
	// there when a block is XORed with it.
	for i := len(src) - BlockSize; i >= 0; i -= BlockSize {
		b := dst[i : i+BlockSize]
		k.block.Decrypt(b, src[i:i+BlockSize])
		prev := iv
		if i > 0 {
			prev = src[i-BlockSize : i]
		}
		subtle.XORBytes(b, b, prev)
	}
}

// MAC chains the CBC-MAC state x through the full blocks of data: for
// each block, x = AES(x XOR block). len(data) must be a multiple of
// BlockSize.
func (k *Key) MAC(x *[BlockSize]byte, data []byte) {
	if len(data)%BlockSize != 0 {
		panic(errLength)
	}
	if len(data) == 0 {
		return
	}
	if useAsm {
		cbcMAC(k.rounds, &k.enc[0], &x[0], &data[0], len(data)/BlockSize)
		return
	}
	for i := 0; i < len(data); i += BlockSize {
		subtle.XORBytes(x[:], x[:], data[i:i+BlockSize])
		k.block.Encrypt(x[:], x[:])
	}
}

// XORCTR XORs src with the key stream AES(ctr), AES(ctr+1), ... into dst
// and leaves ctr at the next unused counter. The counter is incremented
// as a big-endian number in its last four bytes, carrying into the bytes
// before only when those wrap (CCM's counters, RFC 3610 §2.3, are never
// longer than the message's length field allows, so a carry beyond them
// does not happen). A final partial block uses the start of a key stream
// block, whose counter is then used up. dst and src must overlap exactly
// or not at all; dst must be at least as long as src.
func (k *Key) XORCTR(dst, src []byte, ctr *[BlockSize]byte) {
	if len(dst) < len(src) {
		panic(errLength)
	}
	for len(src) >= BlockSize {
		// Up to the wrap of the low 32 bits in one go.
		low := binary.BigEndian.Uint32(ctr[12:])
		n := min(len(src)/BlockSize, int(min(uint64(1)<<32-uint64(low), 1<<30)))
		if useAsm {
			ctrXOR(k.rounds, &k.enc[0], &ctr[0], &dst[0], &src[0], n)
		} else {
			var ks [BlockSize]byte
			for i := 0; i < n; i++ {
				k.block.Encrypt(ks[:], ctr[:])
				subtle.XORBytes(dst[i*BlockSize:(i+1)*BlockSize], src[i*BlockSize:(i+1)*BlockSize], ks[:])
				binary.BigEndian.PutUint32(ctr[12:], binary.BigEndian.Uint32(ctr[12:])+1)
			}
		}
		if low+uint32(n) == 0 { // wrapped: carry into the bytes before
			for i := 11; i >= 0; i-- {
				ctr[i]++
				if ctr[i] != 0 {
					break
				}
			}
		}
		dst, src = dst[n*BlockSize:], src[n*BlockSize:]
	}
	if len(src) > 0 {
		if useAsm {
			var b [BlockSize]byte // stays on the stack: ctrXOR does not keep it
			copy(b[:], src)
			ctrXOR(k.rounds, &k.enc[0], &ctr[0], &b[0], &b[0], 1)
			copy(dst, b[:len(src)])
			clear(b[:])
			if binary.BigEndian.Uint32(ctr[12:]) == 0 {
				for i := 11; i >= 0; i-- {
					ctr[i]++
					if ctr[i] != 0 {
						break
					}
				}
			}
			return
		}
		var ks [BlockSize]byte
		k.block.Encrypt(ks[:], ctr[:])
		subtle.XORBytes(dst, src, ks[:len(src)])
		low := binary.BigEndian.Uint32(ctr[12:]) + 1
		binary.BigEndian.PutUint32(ctr[12:], low)
		if low == 0 {
			for i := 11; i >= 0; i-- {
				ctr[i]++
				if ctr[i] != 0 {
					break
				}
			}
		}
	}
}
