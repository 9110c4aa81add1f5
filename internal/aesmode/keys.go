package aesmode

import "encoding/binary"

// subByte is the AES S-box (FIPS 197 §5.1.1) of x, computed without a
// table and without a branch on x (the key expansion runs on secret
// bytes; a table lookup would leak them through the cache): the inverse
// in GF(2^8) as x^254, then the affine transformation.
func subByte(x byte) byte {
	x2 := gmulCT(x, x)
	x3 := gmulCT(x2, x)
	x6 := gmulCT(x3, x3)
	x12 := gmulCT(x6, x6)
	x15 := gmulCT(x12, x3)
	x30 := gmulCT(x15, x15)
	x60 := gmulCT(x30, x30)
	x120 := gmulCT(x60, x60)
	x126 := gmulCT(x120, x6)
	x127 := gmulCT(x126, x)
	y := gmulCT(x127, x127) // x^254: 1/x, and 0 for 0
	return y ^ rotl(y, 1) ^ rotl(y, 2) ^ rotl(y, 3) ^ rotl(y, 4) ^ 0x63
}

// gmulCT multiplies in GF(2^8) in constant time (masks, no branches).
func gmulCT(a, b byte) byte {
	var r byte
	for i := 0; i < 8; i++ {
		r ^= a & -(b & 1)
		a = xtime(a)
		b >>= 1
	}
	return r
}

func rotl(x byte, n uint) byte { return x<<n | x>>(8-n) }

func subWord(w uint32) uint32 {
	return uint32(subByte(byte(w>>24)))<<24 | uint32(subByte(byte(w>>16)))<<16 |
		uint32(subByte(byte(w>>8)))<<8 | uint32(subByte(byte(w)))
}

// xtime multiplies by x in GF(2^8).
func xtime(b byte) byte { return b<<1 ^ byte(int8(b)>>7)&0x1b }

// invMixColumns applies InvMixColumns (FIPS 197 §5.3.3) to one 16-byte
// round key.
func invMixColumns(k []byte) {
	for c := 0; c < 4; c++ {
		a0, a1, a2, a3 := k[4*c], k[4*c+1], k[4*c+2], k[4*c+3]
		k[4*c] = gmulCT(a0, 14) ^ gmulCT(a1, 11) ^ gmulCT(a2, 13) ^ gmulCT(a3, 9)
		k[4*c+1] = gmulCT(a0, 9) ^ gmulCT(a1, 14) ^ gmulCT(a2, 11) ^ gmulCT(a3, 13)
		k[4*c+2] = gmulCT(a0, 13) ^ gmulCT(a1, 9) ^ gmulCT(a2, 14) ^ gmulCT(a3, 11)
		k[4*c+3] = gmulCT(a0, 11) ^ gmulCT(a1, 13) ^ gmulCT(a2, 9) ^ gmulCT(a3, 14)
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
