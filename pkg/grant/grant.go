// Package grant implements MSSL access grants: a fixed-layout binary record,
// signed by the device owner's RSA key (PKCS#1 v1.5, SHA-256, e = 65537),
// saying which host may run which tasks on which device (or device group)
// until when, and carrying a per-grant host key sealed with AES-128-CCM under
// the device's key, whose clear copy only the host receives.
//
// The layout is fixed-size and big-endian so that an ATmega328P can parse it
// with constant offsets; docs/grant.md has the byte-level table, the device's
// verification procedure and the reasoning behind the clock-less expiry.
//
// A grant is public: anyone may read it off the wire. What makes a sniffed
// grant useless to anyone but its host is the sealed host key, which the
// MSSL handshake makes the host prove it knows.
package grant

import (
	"encoding/binary"
	"github.com/mstool/mstool/pkg/tasks"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Sizes, in bytes, and offsets of the grant body. All integers are
// big-endian. The body is followed by the RSA signature over it, as long as
// the issuer's modulus (128 or 256 bytes).
const (
	OffMagic    = 0  // 2 bytes "MG"
	OffVersion  = 2  // 1 byte, Version
	OffFlags    = 3  // 1 byte, Flag*
	OffKeyID    = 4  // 8 bytes, issuer key id
	OffSerial   = 12 // 4 bytes
	OffTarget   = 16 // 4 bytes, device id or group id
	OffHostIP   = 20 // 4 bytes, IPv4 (zero when not bound)
	OffHostMAC  = 24 // 6 bytes, MAC (zero when not bound)
	OffTasks    = 30 // 4 bytes, task bit set
	OffIssuedAt = 34 // 4 bytes, unix seconds
	OffNotAfter = 38 // 4 bytes, unix seconds
	OffNonce    = 42 // 13 bytes, CCM nonce of the seal
	OffSealed   = 55 // 16 bytes, host key encrypted
	OffTag      = 71 // 8 bytes, CCM tag of the seal
	BodySize    = 79 // end of the body; the signature starts here

	AADSize     = OffNonce // the seal authenticates body[0:AADSize]
	KeyIDSize   = 8
	NonceSize   = 13
	HostKeySize = 16
	TagSize     = 8
	SealedSize  = HostKeySize + TagSize

	SigSize1024 = 128 // RSA-1024 signature
	SigSize2048 = 256 // RSA-2048 signature
	Size1024    = BodySize + SigSize1024
	Size2048    = BodySize + SigSize2048

	// MaxSize is the largest grant; buffers of this size hold any grant.
	MaxSize = Size2048
)

// Magic is the first two bytes of every grant.
const Magic = "MG"

// Version is the format version this package reads and writes.
const Version = 1

// Flags in the flags byte. Bits not defined here must be zero.
const (
	FlagGroup   = 0x01 // target is a group id (sealed under the group key), else a device id
	FlagHostIP  = 0x02 // the grant is bound to the host's IPv4 address
	FlagHostMAC = 0x04 // the grant is bound to the host's MAC address
	flagsKnown  = FlagGroup | FlagHostIP | FlagHostMAC
)

// Grant is a parsed grant. Parse and Marshal are exact inverses: every valid
// encoding has one Grant and every Grant Parse returns encodes back to the
// same bytes.
type Grant struct {
	Group       bool             // Target is a group id
	IssuerKeyID [KeyIDSize]byte  // signkey.KeyID of the issuer's public key
	Serial      uint32           // per-issuer serial number, compared with the revocation floor
	Target      uint32           // device id, or group id when Group
	HostIP      netip.Addr       // bound IPv4 address; invalid (zero Addr) when not bound
	HostMAC     net.HardwareAddr // bound MAC address (6 bytes); nil when not bound
	Tasks       tasks.Set        // permitted tasks
	IssuedAt    uint32           // unix seconds
	NotAfter    uint32           // unix seconds, inclusive
	Nonce       [NonceSize]byte  // CCM nonce of the seal
	Sealed      [SealedSize]byte // host key encrypted under the seal key, then the CCM tag
	Signature   []byte           // RSASSA-PKCS1-v1_5 SHA-256 over Body()
}

// Body returns the signed part of the grant.
func (g *Grant) Body() []byte {
	b := make([]byte, BodySize)
	g.putBody(b)
	return b
}

// Marshal returns the grant's encoding: Body() followed by Signature.
func (g *Grant) Marshal() []byte {
	b := make([]byte, BodySize+len(g.Signature))
	g.putBody(b)
	copy(b[BodySize:], g.Signature)
	return b
}

func (g *Grant) flags() byte {
	var f byte
	if g.Group {
		f |= FlagGroup
	}
	if g.HostIP.IsValid() {
		f |= FlagHostIP
	}
	if g.HostMAC != nil {
		f |= FlagHostMAC
	}
	return f
}

func (g *Grant) putBody(b []byte) {
	copy(b[OffMagic:], Magic)
	b[OffVersion] = Version
	b[OffFlags] = g.flags()
	copy(b[OffKeyID:OffKeyID+KeyIDSize], g.IssuerKeyID[:])
	binary.BigEndian.PutUint32(b[OffSerial:], g.Serial)
	binary.BigEndian.PutUint32(b[OffTarget:], g.Target)
	if g.HostIP.Is4() {
		ip := g.HostIP.As4()
		copy(b[OffHostIP:OffHostIP+4], ip[:])
	}
	copy(b[OffHostMAC:OffHostMAC+6], g.HostMAC)
	binary.BigEndian.PutUint32(b[OffTasks:], uint32(g.Tasks))
	binary.BigEndian.PutUint32(b[OffIssuedAt:], g.IssuedAt)
	binary.BigEndian.PutUint32(b[OffNotAfter:], g.NotAfter)
	copy(b[OffNonce:OffNonce+NonceSize], g.Nonce[:])
	copy(b[OffSealed:OffSealed+SealedSize], g.Sealed[:])
}

// SignatureBits returns the issuer key size the grant's length implies
// (1024 or 2048).
func (g *Grant) SignatureBits() int { return len(g.Signature) * 8 }

// IssuedTime returns IssuedAt as a time.
func (g *Grant) IssuedTime() time.Time { return time.Unix(int64(g.IssuedAt), 0).UTC() }

// NotAfterTime returns NotAfter as a time.
func (g *Grant) NotAfterTime() time.Time { return time.Unix(int64(g.NotAfter), 0).UTC() }

func malformed(detail string) error { return reject(ReasonMalformed, detail) }

// Parse decodes a grant, checking its length, magic, version, flags and the
// consistency of its fields. It does not check the signature or the seal:
// use Verify. Parse never panics and does not retain b.
func Parse(b []byte) (*Grant, error) {
	switch len(b) {
	case Size1024, Size2048:
	default:
		return nil, malformed("length is " + strconv.Itoa(len(b)) + " bytes, want " + strconv.Itoa(Size1024) + " (RSA-1024) or " + strconv.Itoa(Size2048) + " (RSA-2048)")
	}
	if string(b[OffMagic:OffMagic+2]) != Magic {
		return nil, malformed("bad magic (not an mstool grant)")
	}
	if b[OffVersion] != Version {
		return nil, malformed("unsupported version " + strconv.Itoa(int(b[OffVersion])))
	}
	f := b[OffFlags]
	if f&^flagsKnown != 0 {
		return nil, malformed("unknown flag bits set")
	}
	if f&(FlagHostIP|FlagHostMAC) == 0 {
		return nil, malformed("bound to no host address")
	}
	g := &Grant{
		Group:     f&FlagGroup != 0,
		Serial:    binary.BigEndian.Uint32(b[OffSerial:]),
		Target:    binary.BigEndian.Uint32(b[OffTarget:]),
		Tasks:     tasks.Set(binary.BigEndian.Uint32(b[OffTasks:])),
		IssuedAt:  binary.BigEndian.Uint32(b[OffIssuedAt:]),
		NotAfter:  binary.BigEndian.Uint32(b[OffNotAfter:]),
		Signature: append([]byte(nil), b[BodySize:]...),
	}
	copy(g.IssuerKeyID[:], b[OffKeyID:])
	copy(g.Nonce[:], b[OffNonce:])
	copy(g.Sealed[:], b[OffSealed:])

	ip := b[OffHostIP : OffHostIP+4]
	if f&FlagHostIP != 0 {
		if allZero(ip) {
			return nil, malformed("host IPv4 flag set but address is 0.0.0.0")
		}
		g.HostIP = netip.AddrFrom4([4]byte(ip))
	} else if !allZero(ip) {
		return nil, malformed("host IPv4 address set without its flag")
	}
	mac := b[OffHostMAC : OffHostMAC+6]
	if f&FlagHostMAC != 0 {
		if allZero(mac) {
			return nil, malformed("host MAC flag set but address is zero")
		}
		g.HostMAC = append(net.HardwareAddr(nil), mac...)
	} else if !allZero(mac) {
		return nil, malformed("host MAC address set without its flag")
	}
	if g.Tasks == 0 {
		return nil, malformed("no tasks")
	}
	if g.NotAfter < g.IssuedAt {
		return nil, malformed("not_after is before issued_at")
	}
	return g, nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
