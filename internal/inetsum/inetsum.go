// Package inetsum is the Internet checksum (RFC 1071) and the UDP
// checksum with its pseudo-header (RFC 768, RFC 8200 §8.1): the one copy
// the packet code of mstool shares.
package inetsum

import "net/netip"

// Sum adds the 16-bit big-endian words of b to the running sum s (an odd
// last byte is padded with zero).
func Sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// Fold folds the carries of a running sum into 16 bits.
func Fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// Checksum is the Internet checksum of b: the ones' complement of the
// ones' complement sum of its words. Over data that holds its own correct
// checksum it is 0.
func Checksum(b []byte) uint16 { return ^Fold(Sum(0, b)) }

// Pseudo is the running sum of the pseudo-header of a transport segment
// of length n and protocol proto between src and dst (IPv4 or IPv6).
func Pseudo(src, dst netip.Addr, proto uint8, n int) uint32 {
	s := Sum(0, src.AsSlice())
	s = Sum(s, dst.AsSlice())
	return s + uint32(proto) + uint32(n)
}

// UDP is the checksum of the UDP datagram u (its checksum field zero)
// between src and dst. The caller sends 0xffff for a computed 0 (RFC 768).
func UDP(src, dst netip.Addr, u []byte) uint16 {
	return ^Fold(Sum(Pseudo(src, dst, 17, len(u)), u))
}
