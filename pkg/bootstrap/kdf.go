package bootstrap

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/mstool/mstool/pkg/cmac"
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

// Labels of the master-key KDF (docs/bootstrap.md, "After the join").
const (
	LabelESPHostToDevice = "ESP-h2d " // the SA the host sends with
	LabelESPDeviceToHost = "ESP-d2h " // the SA the device sends with
)

// KDFBlock is one block of the master-key KDF: SP 800-108 counter mode with
// AES-CMAC as the PRF, the same input layout as re-provisioning
// (docs/provisioning.md, "Keys") with a zero context:
//
//	AES-CMAC(MK, i(1) ‖ label(8) ‖ 00 ‖ device id(4, big-endian) ‖ 0^16 ‖ 00 80)
func KDFBlock(master [KeySize]byte, label string, device uint32, i byte) [KeySize]byte {
	if len(label) != 8 {
		panic("bootstrap: KDF labels are 8 bytes")
	}
	b, _ := aes.NewCipher(master[:])
	m, _ := cmac.New(b)
	var in [32]byte
	in[0] = i
	copy(in[1:9], label)
	binary.BigEndian.PutUint32(in[10:], device)
	in[31] = 0x80
	var out [KeySize]byte
	copy(out[:], m.Sum(nil, in[:]))
	return out
}

// saMaterial is 64 bytes of KDF output for one SA: blocks 1 to 4.
func saMaterial(master [KeySize]byte, label string, device uint32) []byte {
	m := make([]byte, 0, 4*KeySize)
	for i := byte(1); i <= 4; i++ {
		blk := KDFBlock(master, label, device, i)
		m = append(m, blk[:]...)
	}
	return m
}

// DeriveSAs makes the host's SA file for a device from its master key (the
// PSK after a join): the same structure safile.New makes for opts, but the
// SPIs and keys come from the KDF instead of randomness, so host and device
// compute them alone. For each direction the 64 bytes m = KDFBlock(1..4)
// give SPI = m[0:4] | 0x100, the encryption key m[4:4+enc] and the
// integrity key after it. Should the two SPIs be equal (2^-32), the
// device-to-host SPI has its lowest bit flipped.
func DeriveSAs(master [KeySize]byte, device uint32, opts safile.Options) (*safile.File, error) {
	f, err := safile.New(&countReader{}, opts)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	out, in := f.Outbound[0], f.Inbound[0]
	fill := func(sa *esp.SA, label string) {
		m := saMaterial(master, label, device)
		sa.SPI = binary.BigEndian.Uint32(m[0:4]) | 0x100
		e, a := len(sa.EncKey), len(sa.AuthKey)
		copy(sa.EncKey, m[4:4+e])
		copy(sa.AuthKey, m[4+e:4+e+a])
		clear(m)
	}
	fill(out, LabelESPHostToDevice)
	fill(in, LabelESPDeviceToHost)
	if in.SPI == out.SPI {
		in.SPI ^= 1
	}
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
