package aesmode

import "encoding/binary"

// sbox is the AES S-box (FIPS 197 §5.1.1), computed once: the inverse in
// GF(2^8) followed by the affine transformation.
var sbox = func() (s [256]byte) {
	// Walk p over the multiplicative group with generator 3 and q over its
	// inverses (1/3 = 0xf6), as in the usual compact construction.
	p, q := byte(1), byte(1)
	for {
		p = p ^ p<<1 ^ byte(int8(p)>>7)&0x1b // p *= 3
		q ^= q << 1                          // q /= 3
		q ^= q << 2
		q ^= q << 4
		q ^= byte(int8(q)>>7) & 0x09
		x := q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4)
		s[p] = x ^ 0x63
		if p == 1 {
			break
		}
	}
	s[0] = 0x63
	return s
}()

func rotl(x byte, n uint) byte { return x<<n | x>>(8-n) }

func subWord(w uint32) uint32 {
	return uint32(sbox[w>>24])<<24 | uint32(sbox[w>>16&0xff])<<16 | uint32(sbox[w>>8&0xff])<<8 | uint32(sbox[w&0xff])
}

// xtime multiplies by x in GF(2^8).
func xtime(b byte) byte { return b<<1 ^ byte(int8(b)>>7)&0x1b }

func gmul(a, b byte) byte {
	var r byte
	for b != 0 {
		if b&1 != 0 {
			r ^= a
		}
		a = xtime(a)
		b >>= 1
	}
	return r
}

// invMixColumns applies InvMixColumns (FIPS 197 §5.3.3) to one 16-byte
// round key.
func invMixColumns(k []byte) {
	for c := 0; c < 4; c++ {
		a0, a1, a2, a3 := k[4*c], k[4*c+1], k[4*c+2], k[4*c+3]
		k[4*c] = gmul(a0, 14) ^ gmul(a1, 11) ^ gmul(a2, 13) ^ gmul(a3, 9)
		k[4*c+1] = gmul(a0, 9) ^ gmul(a1, 14) ^ gmul(a2, 11) ^ gmul(a3, 13)
		k[4*c+2] = gmul(a0, 13) ^ gmul(a1, 9) ^ gmul(a2, 14) ^ gmul(a3, 11)
		k[4*c+3] = gmul(a0, 11) ^ gmul(a1, 13) ^ gmul(a2, 9) ^ gmul(a3, 14)
	}
}

// expand writes the round keys of key (16, 24 or 32 bytes) into enc, in
// the order AESENC uses them (FIPS 197 §5.2), and into dec, in the order
// AESDEC uses them: the encryption schedule reversed, with InvMixColumns
// applied to every round key but the first and last (§5.3.5). It returns
// the number of rounds.
func expand(key []byte, enc, dec *[15 * BlockSize]byte) int {
	nk := len(key) / 4
	rounds := nk + 6
	n := 4 * (rounds + 1)
	var w [60]uint32
	for i := 0; i < nk; i++ {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < n; i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon = uint32(xtime(byte(rcon)))
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(enc[4*i:], w[i])
	}
	for r := 0; r <= rounds; r++ {
		k := dec[r*BlockSize : (r+1)*BlockSize]
		for j := 0; j < 4; j++ {
			binary.BigEndian.PutUint32(k[4*j:], w[4*(rounds-r)+j])
		}
		if r != 0 && r != rounds {
			invMixColumns(k)
		}
	}
	clear(w[:])
	return rounds
}
