package capture

import (
	"encoding/binary"
	"github.com/mstool/mstool/internal/inetsum"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// UDPOpener decrypts a protocol that runs directly on UDP (MSSL: see
// pkg/mssl's Decrypter). DecryptCapture calls it in capture order, from
// one goroutine, for every IPv4 UDP datagram that is not ESP.
type UDPOpener interface {
	// OpenUDP appends the datagram's plaintext payload to dst and returns
	// it with MSSLDecrypted; or returns dst with Other (not its
	// protocol, or a message left as it is), MSSLFailed (its protocol,
	// but no key opens it) or Replayed.
	OpenUDP(dst []byte, src, dstAddr netip.AddrPort, payload []byte) ([]byte, Result)
}

// openUDP finds an unfragmented IPv4/UDP datagram in frame and, when
// opener decrypts its payload, appends to dst the frame with the payload
// replaced by the plaintext (IPv4 total length and checksum, UDP length
// fixed; UDP checksum 0, "none", which RFC 768 allows for IPv4).
func openUDP(opener UDPOpener, dst []byte, lt layers.LinkType, frame []byte) ([]byte, Result) {
	off, _, ok := ipOffset(lt, frame)
	if !ok || len(frame) < off+20 {
		return dst, Other
	}
	ip := frame[off:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 17 || total < ihl+8 || total > len(ip) {
		return dst, Other
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or a fragment offset
		return dst, Other
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return dst, Other
	}
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
	dstAP := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
	start := len(dst)
	head := off + ihl + 8
	dst = append(dst, frame[:head]...)
	out, r := opener.OpenUDP(dst, src, dstAP, udp[8:ulen])
	if r != MSSLDecrypted {
		return dst[:start], r
	}
	f := out[start:]
	n := len(f) - off - ihl // UDP length
	nip := f[off:]
	binary.BigEndian.PutUint16(nip[2:], uint16(ihl+n))
	nip[10], nip[11] = 0, 0
	binary.BigEndian.PutUint16(nip[10:], inetsum.Checksum(nip[:ihl]))
	binary.BigEndian.PutUint16(nip[ihl+4:], uint16(n))
	nip[ihl+6], nip[ihl+7] = 0, 0
	return out, MSSLDecrypted
}
