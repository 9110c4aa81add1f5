package esp

import (
	"encoding/binary"
	"errors"
	"github.com/mstool/mstool/internal/inetsum"
	"github.com/mstool/mstool/pkg/ipv4"
	"net/netip"
)

// UDPKind classifies the payload of a UDP datagram on an ESP-in-UDP port
// (RFC 3948 §2).
type UDPKind uint8

// UDP payload kinds.
const (
	UDPInvalid   UDPKind = iota // too short to be anything (or empty)
	UDPKeepalive                // NAT-keepalive: the single octet 0xFF (RFC 3948 §2.3)
	UDPNonESP                   // non-ESP marker: four zero octets, then IKE (RFC 3948 §2.2)
	UDPESP                      // ESP: a nonzero SPI and the rest of an ESP packet (RFC 3948 §2.1)
)

// String returns a short lowercase name for the kind.
func (k UDPKind) String() string {
	switch k {
	case UDPKeepalive:
		return "nat-keepalive"
	case UDPNonESP:
		return "non-esp"
	case UDPESP:
		return "esp"
	}
	return "invalid"
}

// ClassifyUDP tells what a UDP payload on an ESP-in-UDP port carries.
// An ESP payload is at least the 8-byte ESP header with a nonzero SPI (an SPI
// of zero is the non-ESP marker, RFC 3948 §2.2).
func ClassifyUDP(payload []byte) UDPKind {
	switch {
	case len(payload) == 1 && payload[0] == 0xff:
		return UDPKeepalive
	case len(payload) >= 4 && binary.BigEndian.Uint32(payload) == 0:
		return UDPNonESP
	case len(payload) >= espHeaderLen:
		return UDPESP
	}
	return UDPInvalid
}

var errAddrs = errors.New("esp: source and destination must be valid addresses of one family")

// AppendNATKeepalive appends an IPv4 or IPv6 packet carrying an RFC 3948
// §2.3 NAT-keepalive (a UDP datagram whose payload is the octet 0xFF) from
// src to dst.
func AppendNATKeepalive(dst []byte, src, to netip.AddrPort) ([]byte, error) {
	return appendUDP(dst, src, to, nil, []byte{0xff})
}

// AppendNonESP appends an IPv4 or IPv6 UDP packet from src to dst whose
// payload is the non-ESP marker (four zero octets, RFC 3948 §2.2) followed by
// payload, as IKE uses on port 4500.
func AppendNonESP(dst []byte, src, to netip.AddrPort, payload []byte) ([]byte, error) {
	return appendUDP(dst, src, to, []byte{0, 0, 0, 0}, payload)
}

// appendUDP appends IP / UDP / prefix || payload. The UDP checksum is
// computed (these are not ESP packets).
func appendUDP(dst []byte, src, to netip.AddrPort, prefix, payload []byte) ([]byte, error) {
	s, d := src.Addr().Unmap(), to.Addr().Unmap()
	if !s.IsValid() || !d.IsValid() || s.Is4() != d.Is4() {
		return nil, errAddrs
	}
	n := udpHeaderLen + len(prefix) + len(payload)
	hl := ipv6HeaderLen
	if s.Is4() {
		hl = ipv4HeaderLen
	}
	if hl+n > 0xffff {
		return nil, errTooLong
	}
	o := len(dst)
	out, b := grow(dst, hl+n)
	putIPHeader(b, s, d, protoUDP, 0, defaultTTL, false, 0)
	u := b[hl:]
	putUDP(u, src.Port(), to.Port(), n)
	copy(u[udpHeaderLen+copy(u[udpHeaderLen:], prefix):], payload)
	if s.Is4() {
		fixIPv4(out[o:], hl)
	} else {
		binary.BigEndian.PutUint16(b[4:], uint16(n))
	}
	binary.BigEndian.PutUint16(u[6:], inetsum.UDP(s, d, u))
	return out, nil
}

// putIPHeader writes a fresh outer IPv4 (20 bytes, length and checksum left
// to fixIPv4) or IPv6 (40 bytes, payload length left to the caller) header.
func putIPHeader(b []byte, src, dst netip.Addr, proto, tos, ttl uint8, df bool, id uint16) {
	if src.Is4() {
		ipv4.PutHeader(b, &ipv4.Header{TOS: tos, ID: id, DF: df, TTL: ttl, Protocol: proto, Src: src, Dst: dst})
		return
	}
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(tos)<<20)
	b[6], b[7] = proto, ttl
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
}
