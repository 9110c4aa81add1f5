// Package esp implements the IP Encapsulating Security Payload (ESP, RFC 4303)
// for hosts: security associations, encapsulation and decapsulation of IPv4
// and IPv6 packets in transport and tunnel mode, 32-bit and extended (64-bit)
// sequence numbers, the RFC 4303 anti-replay window, and ESP-in-UDP
// encapsulation (RFC 3948).
//
// Per-packet operations append into caller-supplied buffers and do not
// allocate. Every authentication failure is reported as the single opaque
// error ErrAuth; the integrity check is always verified, in constant time,
// before any byte is decrypted.
package esp

import (
	"errors"
	"fmt"
	"net/netip"
)

// Suite identifies an ESP transform (encryption + integrity).
type Suite uint8

// The supported suites. The numeric values are stable and may be stored.
const (
	SuiteAES128CCM8          Suite = 1 // "aes128-ccm8"   RFC 4309, ICV 8
	SuiteAES128CCM16         Suite = 2 // "aes128-ccm16"  RFC 4309, ICV 16
	SuiteAES128GCM16         Suite = 3 // "aes128-gcm16"  RFC 4106, ICV 16
	SuiteAES128CTRHMACSHA256 Suite = 4 // "aes128-ctr-hmac-sha256-128" RFC 3686 + RFC 4868
	SuiteAES128CBCHMACMD5    Suite = 5 // "aes128-cbc-hmac-md5-96"     RFC 3602 + RFC 2403
	SuiteAES128CBCHMACSHA1   Suite = 6 // "aes128-cbc-hmac-sha1-96"    RFC 3602 + RFC 2404
	SuiteAES128CBCHMACSHA256 Suite = 7 // "aes128-cbc-hmac-sha256-128" RFC 3602 + RFC 4868
	SuiteNULLHMACSHA256      Suite = 8 // "null-hmac-sha256-128" DEBUG ONLY, no confidentiality
)

// Suites lists every supported suite in numeric order.
var Suites = []Suite{
	SuiteAES128CCM8,
	SuiteAES128CCM16,
	SuiteAES128GCM16,
	SuiteAES128CTRHMACSHA256,
	SuiteAES128CBCHMACMD5,
	SuiteAES128CBCHMACSHA1,
	SuiteAES128CBCHMACSHA256,
	SuiteNULLHMACSHA256,
}

var suiteNames = [...]string{
	SuiteAES128CCM8:          "aes128-ccm8",
	SuiteAES128CCM16:         "aes128-ccm16",
	SuiteAES128GCM16:         "aes128-gcm16",
	SuiteAES128CTRHMACSHA256: "aes128-ctr-hmac-sha256-128",
	SuiteAES128CBCHMACMD5:    "aes128-cbc-hmac-md5-96",
	SuiteAES128CBCHMACSHA1:   "aes128-cbc-hmac-sha1-96",
	SuiteAES128CBCHMACSHA256: "aes128-cbc-hmac-sha256-128",
	SuiteNULLHMACSHA256:      "null-hmac-sha256-128",
}

// Valid reports whether s is one of the supported suites.
func (s Suite) Valid() bool { return s >= SuiteAES128CCM8 && s <= SuiteNULLHMACSHA256 }

// String returns the suite's canonical name, such as "aes128-ccm8".
func (s Suite) String() string {
	if !s.Valid() {
		return fmt.Sprintf("suite(%d)", uint8(s))
	}
	return suiteNames[s]
}

// ParseSuite returns the suite with the given canonical name (see String).
func ParseSuite(name string) (Suite, error) {
	for _, s := range Suites {
		if suiteNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("esp: unknown suite %q", name)
}

// Key and ICV sizes, in bytes.
const (
	aesKeyLen   = 16 // AES-128
	ccmSaltLen  = 3  // RFC 4309 §7.1
	gcmSaltLen  = 4  // RFC 4106 §8.1
	ctrNonceLen = 4  // RFC 3686 §5.1
	md5KeyLen   = 16 // RFC 2403
	sha1KeyLen  = 20 // RFC 2404
	sha256Key   = 32 // RFC 4868 §2.1.1
)

// EncKeyLen returns the length of the encryption keying material in bytes:
// the AES key followed by the salt or nonce, laid out as RFC 4309 §7.1,
// RFC 4106 §8.1 and RFC 3686 §5.1 (and ip-xfrm) do: CCM 16+3, GCM 16+4,
// CTR 16+4, CBC 16, NULL 0.
func (s Suite) EncKeyLen() int {
	switch s {
	case SuiteAES128CCM8, SuiteAES128CCM16:
		return aesKeyLen + ccmSaltLen
	case SuiteAES128GCM16:
		return aesKeyLen + gcmSaltLen
	case SuiteAES128CTRHMACSHA256:
		return aesKeyLen + ctrNonceLen
	case SuiteAES128CBCHMACMD5, SuiteAES128CBCHMACSHA1, SuiteAES128CBCHMACSHA256:
		return aesKeyLen
	}
	return 0
}

// AuthKeyLen returns the length of the integrity key in bytes: HMAC-MD5 16,
// HMAC-SHA-1 20, HMAC-SHA-256 32, and 0 for combined-mode (AEAD) suites.
func (s Suite) AuthKeyLen() int {
	switch s {
	case SuiteAES128CBCHMACMD5:
		return md5KeyLen
	case SuiteAES128CBCHMACSHA1:
		return sha1KeyLen
	case SuiteAES128CTRHMACSHA256, SuiteAES128CBCHMACSHA256, SuiteNULLHMACSHA256:
		return sha256Key
	}
	return 0
}

// ICVLen returns the length of the Integrity Check Value in bytes.
func (s Suite) ICVLen() int {
	switch s {
	case SuiteAES128CCM8:
		return 8
	case SuiteAES128CCM16, SuiteAES128GCM16:
		return 16
	case SuiteAES128CTRHMACSHA256, SuiteAES128CBCHMACSHA256, SuiteNULLHMACSHA256:
		return 16 // RFC 4868: HMAC-SHA-256 truncated to 128 bits
	case SuiteAES128CBCHMACMD5, SuiteAES128CBCHMACSHA1:
		return 12 // RFC 2403, RFC 2404: truncated to 96 bits
	}
	return 0
}

// IVLen returns the length of the explicit IV carried in each packet:
// 16 for CBC, 8 for CTR, GCM and CCM, 0 for NULL.
func (s Suite) IVLen() int {
	switch s {
	case SuiteAES128CBCHMACMD5, SuiteAES128CBCHMACSHA1, SuiteAES128CBCHMACSHA256:
		return 16
	case SuiteNULLHMACSHA256:
		return 0
	case SuiteAES128CCM8, SuiteAES128CCM16, SuiteAES128GCM16, SuiteAES128CTRHMACSHA256:
		return 8
	}
	return 0
}

// IsAEAD reports whether the suite is a combined-mode (AEAD) transform.
func (s Suite) IsAEAD() bool {
	return s == SuiteAES128CCM8 || s == SuiteAES128CCM16 || s == SuiteAES128GCM16
}

// IsNULL reports whether the suite uses NULL encryption: such packets are
// authenticated but travel IN THE CLEAR. Use only for debugging.
func (s Suite) IsNULL() bool { return s == SuiteNULLHMACSHA256 }

// Mode is the ESP mode of an SA.
type Mode uint8

// ESP modes (RFC 4301 §4.1).
const (
	Transport Mode = 1 // ESP protects the payload of the IP packet
	Tunnel    Mode = 2 // ESP protects a whole inner IP packet
)

// String returns "transport" or "tunnel".
func (m Mode) String() string {
	switch m {
	case Transport:
		return "transport"
	case Tunnel:
		return "tunnel"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses "transport" or "tunnel".
func ParseMode(name string) (Mode, error) {
	switch name {
	case "transport":
		return Transport, nil
	case "tunnel":
		return Tunnel, nil
	}
	return 0, fmt.Errorf("esp: unknown mode %q", name)
}

// UDPEncap is RFC 3948 ESP-in-UDP; nil means ESP directly in IP (protocol 50).
type UDPEncap struct{ SrcPort, DstPort uint16 }

// DefaultReplayWindow is the anti-replay window size used when
// SA.ReplayWindow is 0 (RFC 4303 §3.4.3 recommends 64 as the default).
const DefaultReplayWindow = 64

// MaxReplayWindow is the largest supported anti-replay window.
const MaxReplayWindow = 4096

// SA is one direction of a security association.
type SA struct {
	SPI          uint32
	Suite        Suite
	EncKey       []byte // len == Suite.EncKeyLen()
	AuthKey      []byte // len == Suite.AuthKeyLen()
	Mode         Mode
	ESN          bool       // 64-bit extended sequence numbers (RFC 4303 §2.2.1)
	Src, Dst     netip.Addr // outer/peer addresses (tunnel endpoints in tunnel mode; required for outbound tunnel mode, optional otherwise)
	Encap        *UDPEncap
	ReplayWindow int // anti-replay window size in packets (0 = default 64; inbound only)
}

// Validate checks that the SA is complete and self-consistent.
func (sa *SA) Validate() error {
	if sa == nil {
		return errors.New("esp: nil SA")
	}
	if !sa.Suite.Valid() {
		return fmt.Errorf("esp: invalid suite %d", uint8(sa.Suite))
	}
	if sa.SPI == 0 {
		// RFC 4303 §2.1: SPI 0 is reserved for local use and never sent.
		// (1..255 are reserved by IANA too; new SAs should avoid them, but
		// existing ones are accepted so that captures can be decrypted.)
		return errors.New("esp: SPI 0 is reserved")
	}
	if len(sa.EncKey) != sa.Suite.EncKeyLen() {
		return fmt.Errorf("esp: %s needs a %d-byte encryption key, got %d", sa.Suite, sa.Suite.EncKeyLen(), len(sa.EncKey))
	}
	if len(sa.AuthKey) != sa.Suite.AuthKeyLen() {
		return fmt.Errorf("esp: %s needs a %d-byte authentication key, got %d", sa.Suite, sa.Suite.AuthKeyLen(), len(sa.AuthKey))
	}
	if sa.Mode != Transport && sa.Mode != Tunnel {
		return fmt.Errorf("esp: invalid mode %d", uint8(sa.Mode))
	}
	if sa.Src.IsValid() != sa.Dst.IsValid() {
		return errors.New("esp: source and destination addresses must both be set or both be empty")
	}
	if sa.Src.IsValid() && sa.Src.Is4() != sa.Dst.Is4() {
		return errors.New("esp: source and destination addresses are of different families")
	}
	if sa.ReplayWindow < 0 || sa.ReplayWindow > MaxReplayWindow {
		return fmt.Errorf("esp: replay window %d out of range 0..%d", sa.ReplayWindow, MaxReplayWindow)
	}
	return nil
}
