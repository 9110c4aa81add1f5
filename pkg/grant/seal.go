package grant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"

	"github.com/mstool/mstool/pkg/ccm"
)

// SealLabel is the AES block that derives a grant seal key from a device's
// master key (or a group key): SealKey(k) = AES-128-Encrypt(k, SealLabel).
// The derivation keeps the grant seal's CCM nonces apart from any other use
// of the same device key; it costs the device one AES block.
const SealLabel = "MSSL-grant-seal1"

// SealKey derives the key that seals host keys for grants addressed to the
// holder of deviceKey (the device master key, or the group key for group
// grants).
func SealKey(deviceKey [16]byte) [16]byte {
	b, err := aes.NewCipher(deviceKey[:])
	if err != nil {
		panic("grant: " + err.Error()) // cannot happen: the key is 16 bytes
	}
	var k [16]byte
	b.Encrypt(k[:], []byte(SealLabel))
	return k
}

func sealAEAD(deviceKey [16]byte) cipher.AEAD {
	k := SealKey(deviceKey)
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic("grant: " + err.Error())
	}
	a, err := ccm.New(b, TagSize, NonceSize)
	if err != nil {
		panic("grant: " + err.Error()) // constant sizes RFC 3610 allows
	}
	return a
}

// seal encrypts hostKey into the body's sealed field under deviceKey, authenticating the
// grant fields before the nonce (the body must already hold them).
func seal(body []byte, deviceKey, hostKey [16]byte) {
	a := sealAEAD(deviceKey)
	out := a.Seal(nil, body[OffNonce:OffNonce+NonceSize], hostKey[:], body[:AADSize])
	copy(body[OffSealed:OffSealed+SealedSize], out)
}

// OpenHostKey opens the grant's sealed host key with deviceKey (the master
// key of the device, or the group key for a group grant). It fails with
// ErrSeal when the key is wrong or any sealed or authenticated byte changed.
// Call it only on a grant whose signature has been verified.
func OpenHostKey(g *Grant, deviceKey [16]byte) ([HostKeySize]byte, error) {
	var hk [HostKeySize]byte
	body := g.Body()
	pt, err := sealAEAD(deviceKey).Open(nil, g.Nonce[:], g.Sealed[:], body[:AADSize])
	if err != nil {
		return hk, reject(ReasonSeal, "wrong device key, or the grant was sealed for another key")
	}
	copy(hk[:], pt)
	clear(pt)
	return hk, nil
}

// equalKeys compares two keys in constant time.
func equalKeys(a, b [HostKeySize]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }
