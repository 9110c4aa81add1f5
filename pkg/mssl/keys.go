package mssl

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"

	"github.com/mstool/mstool/pkg/ccm"
	"github.com/mstool/mstool/pkg/cmac"
)

// Labels: AES blocks (exactly 16 ASCII bytes each) that separate the uses
// of one key (docs/mssl.md, "Key schedule").
const (
	// NonceKeyLabel derives the device's nonce key from its master key:
	// Knonce = AES-128-Encrypt(master key, NonceKeyLabel).
	NonceKeyLabel = "MSSL-nonce-key-1"
	// The session keys and salts: AES-128-Encrypt(PRK, label).
	LabelClientKey = "MSSL1 client key"
	LabelServerKey = "MSSL1 server key"
	LabelSalts     = "MSSL1 nonce salt"
	// FloorMACLabel derives the key of floor statements' device MAC
	// (devices without RSA): Kfloor = AES-128-Encrypt(master key, label).
	FloorMACLabel = "MSSL-floor-mac-1"
)

func aesBlock(key []byte) cipher.Block {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("mssl: " + err.Error()) // keys are always 16 bytes here
	}
	return b
}

// NonceKey derives the device's nonce key from its master key.
func NonceKey(master [KeySize]byte) [KeySize]byte {
	var k [KeySize]byte
	aesBlock(master[:]).Encrypt(k[:], []byte(NonceKeyLabel))
	return k
}

// FloorMAC computes a floor statement body's device MAC,
// AES-CMAC(Kfloor, body) (RFC 4493) with Kfloor derived from the device's
// master key under FloorMACLabel: what a device without RSA checks
// instead of the signature (docs/mssl.md, "Seal-only").
func FloorMAC(master [KeySize]byte, body []byte) [FloorMACSize]byte {
	var k [KeySize]byte
	aesBlock(master[:]).Encrypt(k[:], []byte(FloorMACLabel))
	m, err := cmac.New(aesBlock(k[:]))
	if err != nil {
		panic("mssl: " + err.Error())
	}
	var tag [FloorMACSize]byte
	copy(tag[:], m.Sum(nil, body))
	return tag
}

// DeviceNonce computes Nd = AES-128-Encrypt(Knonce, counter ‖ extra): the
// counter (big-endian, never used twice: docs/eeprom.md's reservation rule)
// makes Nd unique, the secret Knonce makes it unpredictable. extra is
// whatever entropy the device has (zero when it has none).
func DeviceNonce(knonce [KeySize]byte, counter uint32, extra [12]byte) [NonceSize]byte {
	var in, nd [NonceSize]byte
	binary.BigEndian.PutUint32(in[:], counter)
	copy(in[4:], extra[:])
	aesBlock(knonce[:]).Encrypt(nd[:], in[:])
	return nd
}

// Keys are one session's traffic keys.
type Keys struct {
	ClientKey  [KeySize]byte  // host → device records
	ServerKey  [KeySize]byte  // device → host records
	ClientSalt [SaltSize]byte // nonce salt, host → device
	ServerSalt [SaltSize]byte // nonce salt, device → host
}

// DeriveKeys is the key schedule: PRK = AES-CMAC(Kh, Nh ‖ Nd), then each
// key is AES-128-Encrypt(PRK, label); the salts are the two halves of
// AES-128-Encrypt(PRK, LabelSalts).
func DeriveKeys(hostKey [KeySize]byte, nh, nd [NonceSize]byte) Keys {
	m, err := cmac.New(aesBlock(hostKey[:]))
	if err != nil {
		panic("mssl: " + err.Error())
	}
	var in [2 * NonceSize]byte
	copy(in[:], nh[:])
	copy(in[NonceSize:], nd[:])
	var prk [cmac.Size]byte
	m.Sum(prk[:0], in[:])
	b := aesBlock(prk[:])
	var k Keys
	var salts [16]byte
	b.Encrypt(k.ClientKey[:], []byte(LabelClientKey))
	b.Encrypt(k.ServerKey[:], []byte(LabelServerKey))
	b.Encrypt(salts[:], []byte(LabelSalts))
	copy(k.ClientSalt[:], salts[:SaltSize])
	copy(k.ServerSalt[:], salts[SaltSize:])
	clear(prk[:])
	return k
}

// direction is one direction of a session's records.
type direction struct {
	aead cipher.AEAD
	salt [SaltSize]byte
	dir  byte
}

func newDirection(key [KeySize]byte, salt [SaltSize]byte, dir byte) *direction {
	a, err := ccm.New(aesBlock(key[:]), TagSize, 13)
	if err != nil {
		panic("mssl: " + err.Error())
	}
	return &direction{aead: a, salt: salt, dir: dir}
}

func (d *direction) nonce(seq uint32) [13]byte {
	var n [13]byte
	copy(n[:], d.salt[:])
	n[SaltSize] = d.dir
	binary.BigEndian.PutUint32(n[SaltSize+1:], seq)
	return n
}

// finishedExtra is what follows the header in the additional data of a
// Finished record: the ServerHello flags and the grant's seal tag.
func finishedExtra(flags byte, sealTag []byte) []byte {
	return append([]byte{flags}, sealTag...)
}

// seal appends the record typ/seq with plaintext pt to dst. extraAAD (the
// Finished binding) follows the header in the additional data.
func (d *direction) seal(dst []byte, typ byte, seq uint32, pt, extraAAD []byte) []byte {
	start := len(dst)
	dst = appendRecordHeader(dst, typ, seq)
	aad := dst[start:]
	if extraAAD != nil {
		aad = append(append([]byte(nil), aad...), extraAAD...)
	}
	n := d.nonce(seq)
	return d.aead.Seal(dst, n[:], pt, aad)
}

// open authenticates and decrypts record r (raw is the whole message).
func (d *direction) open(dst []byte, raw []byte, r Record, extraAAD []byte) ([]byte, error) {
	aad := raw[:RecordHeaderSize]
	if extraAAD != nil {
		aad = append(append([]byte(nil), aad...), extraAAD...)
	}
	n := d.nonce(r.Seq)
	pt, err := d.aead.Open(dst, n[:], r.Sealed, aad)
	if err != nil {
		return nil, ErrBadRecordMAC
	}
	return pt, nil
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
