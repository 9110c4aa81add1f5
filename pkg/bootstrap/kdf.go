package bootstrap

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/safile"
)

// DerivePSK is the paper's PSK_i = E(RN_i ⊕ RN_c, IK_i): one AES-128
// encryption, keyed by the device's current key, of RN_i ⊕ RN_c.
func DerivePSK(key [KeySize]byte, rni, rnc [RNSize]byte) [KeySize]byte {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("bootstrap: " + err.Error())
	}
	var x, psk [KeySize]byte
	subtle.XORBytes(x[:], rni[:], rnc[:])
	b.Encrypt(psk[:], x[:])
	clear(x[:])
	return psk
}

// equal compares in constant time.
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// SA indexes of the master-key KDF (docs/bootstrap.md, "After the join").
const (
	SAHostToDevice = 0 // the SA the host sends with (the device's inbound)
	SADeviceToHost = 1 // the SA the device sends with
)

// KDFBlock is block c (1, 2, ...) of SA sa's key material under the
// master key, with AES-128 as the PRF (as MSSL derives its keys from the
// master key, docs/mssl.md):
//
//	AES-128(MK, c ‖ sa ‖ 0^14)
//
// No other AES(MK, ·) block of the protocols starts that way: MSSL's
// inputs are ASCII labels ("MSSL…"), and CCM's counter blocks under MK
// (the bootstrap flights) are 01 ‖ a flight type (04, 05) ‖ ….
func KDFBlock(master [KeySize]byte, sa, c byte) [KeySize]byte {
	b, err := aes.NewCipher(master[:])
	if err != nil {
		panic("bootstrap: " + err.Error())
	}
	var in, out [KeySize]byte
	in[0], in[1] = c, sa
	b.Encrypt(out[:], in[:])
	return out
}

// saMaterial is 64 bytes of KDF output for one SA: blocks 1 to 4.
func saMaterial(master [KeySize]byte, sa byte) []byte {
	m := make([]byte, 0, 4*KeySize)
	for c := byte(1); c <= 4; c++ {
		blk := KDFBlock(master, sa, c)
		m = append(m, blk[:]...)
	}
	return m
}

// DeriveSAs makes the host's SA file for a device from its master key (the
// PSK after a join): the same structure safile.New makes for opts, but the
// SPIs and keys come from the KDF instead of randomness, so host and device
// compute them alone. For each SA i the 64 bytes m = KDFBlock(1..4) give
// the SPI m[0:4] with bit 8 set and bit 0 = i (never zero, never equal),
// the encryption key m[4:4+enc] and the integrity key after it. The
// device (firmware/lib/esp.c) derives aes128-ccm8 SAs only: 16 bytes of
// key and 3 of salt. (No device id: the master key is the device's own.)
func DeriveSAs(master [KeySize]byte, opts safile.Options) (*safile.File, error) {
	f, err := safile.New(&countReader{}, opts)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	fill := func(sa *esp.SA, i byte) {
		m := saMaterial(master, i)
		sa.SPI = binary.BigEndian.Uint32(m[0:4])&^1 | 0x100 | uint32(i)
		e, a := len(sa.EncKey), len(sa.AuthKey)
		copy(sa.EncKey, m[4:4+e])
		copy(sa.AuthKey, m[4+e:4+e+a])
		clear(m)
	}
	fill(f.Outbound[0], SAHostToDevice)
	fill(f.Inbound[0], SADeviceToHost)
	return f, nil
}

// countReader feeds safile.New distinct non-zero bytes (so that its SPIs
// are valid and differ); its SPIs and keys are all replaced.
type countReader struct{ n byte }

func (r *countReader) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n | 0x80
	}
	return len(p), nil
}
