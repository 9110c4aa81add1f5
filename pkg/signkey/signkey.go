// Package signkey handles the owner's RSA signing key: the key that signs
// MSSL access grants and whose public modulus devices store to verify them.
//
// Devices verify RSA PKCS#1 v1.5 signatures with e = 65537 and 1024- or
// 2048-bit moduli, so only such keys are accepted. Keys are PEM: PKCS#8
// ("PRIVATE KEY", what openssl genpkey writes) or PKCS#1 ("RSA PRIVATE KEY");
// public keys are SubjectPublicKeyInfo ("PUBLIC KEY") or PKCS#1.
package signkey

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// Key sizes a device can verify.
const (
	Bits1024 = 1024 // the seed's 8-bit setting; weak, accepted with a warning
	Bits2048 = 2048 // the default
)

// PublicExponent is the only exponent devices support.
const PublicExponent = 65537

// KeyIDSize is the size in bytes of a key identifier.
const KeyIDSize = 8

// Weak reports whether a key of this size should be accompanied by a
// warning: RSA-1024 is below today's recommendations.
func Weak(bits int) bool { return bits < Bits2048 }

// Generate makes a new signing key. bits must be 1024 or 2048.
func Generate(rand io.Reader, bits int) (*rsa.PrivateKey, error) {
	if bits != Bits1024 && bits != Bits2048 {
		return nil, fmt.Errorf("signkey: %d-bit keys are not supported by devices (use 2048, or 1024)", bits)
	}
	k, err := rsa.GenerateKey(rand, bits)
	if err != nil {
		return nil, fmt.Errorf("signkey: %w", err)
	}
	return k, nil
}

// Check returns an error if a device could not verify signatures made with
// the key: the exponent must be 65537 and the modulus 1024 or 2048 bits.
func Check(pub *rsa.PublicKey) error {
	if pub.E != PublicExponent {
		return fmt.Errorf("signkey: public exponent %d is not supported (devices need 65537)", pub.E)
	}
	if b := pub.N.BitLen(); b != Bits1024 && b != Bits2048 {
		return fmt.Errorf("signkey: %d-bit modulus is not supported (devices verify 1024- and 2048-bit keys)", b)
	}
	return nil
}

// MarshalPrivatePEM encodes the key as PKCS#8 PEM, as openssl genpkey does.
func MarshalPrivatePEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("signkey: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicPEM encodes the public key as SubjectPublicKeyInfo PEM.
func MarshalPublicPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("signkey: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

var errEncrypted = errors.New("signkey: encrypted private keys are not supported (decrypt with: openssl pkey -in KEY -out PLAIN)")

// ErrNotPEM is returned when the input holds no PEM block.
var ErrNotPEM = errors.New("signkey: no PEM data found")

// ParsePrivatePEM parses a PKCS#8 or PKCS#1 RSA private key and checks that
// devices can verify its signatures. Encrypted PEM is not supported.
func ParsePrivatePEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, ErrNotPEM
	}
	var key *rsa.PrivateKey
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		// legacy PEM encryption (openssl rsa -traditional -aes128): the
		// bytes are ciphertext, not DER
		return nil, errEncrypted
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signkey: parsing PKCS#8 key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signkey: key is %T, not RSA", k)
		}
		key = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signkey: parsing PKCS#1 key: %w", err)
		}
		key = k
	case "ENCRYPTED PRIVATE KEY":
		return nil, errEncrypted
	default:
		return nil, fmt.Errorf("signkey: PEM block %q is not an RSA private key", block.Type)
	}
	if err := Check(&key.PublicKey); err != nil {
		return nil, err
	}
	return key, nil
}

// ParsePublicPEM parses an RSA public key (SubjectPublicKeyInfo or PKCS#1).
// For convenience it also accepts a private key and returns its public half.
func ParsePublicPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, ErrNotPEM
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signkey: parsing public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("signkey: key is %T, not RSA", k)
		}
		pub = rk
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signkey: parsing PKCS#1 public key: %w", err)
		}
		pub = k
	case "PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		k, err := ParsePrivatePEM(data)
		if err != nil {
			return nil, err
		}
		return &k.PublicKey, nil
	default:
		return nil, fmt.Errorf("signkey: PEM block %q is not an RSA public key", block.Type)
	}
	if err := Check(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ModulusBytes returns the modulus as big-endian bytes of exactly the key
// size (128 or 256 bytes): the form devices store.
func ModulusBytes(pub *rsa.PublicKey) []byte {
	return pub.N.FillBytes(make([]byte, (pub.N.BitLen()+7)/8))
}

// KeyID identifies a signing key in grants: the first 8 bytes of SHA-256
// over the modulus as minimal big-endian bytes. A device computes it from
// the modulus it stores, without parsing DER.
func KeyID(pub *rsa.PublicKey) [KeyIDSize]byte {
	sum := sha256.Sum256(new(big.Int).Set(pub.N).Bytes())
	var id [KeyIDSize]byte
	copy(id[:], sum[:KeyIDSize])
	return id
}
