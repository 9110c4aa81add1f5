package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"

	"github.com/mstool/mstool/pkg/ipv4"
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
	if !ok {
		return dst, Other
	}
	ip := frame[off:]
	h, err := ipv4.ReadFields(ip)
	if err != nil || h.Protocol != ipv4.ProtoUDP || h.Fragment() {
		return dst, Other
	}
	ihl := h.HeaderLen
	udp, ok := h.Payload(ip)
	if !ok || len(udp) < ipv4.UDPHeaderLen {
		return dst, Other
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return dst, Other
	}
	src := netip.AddrPortFrom(h.Src, binary.BigEndian.Uint16(udp[0:]))
	dstAP := netip.AddrPortFrom(h.Dst, binary.BigEndian.Uint16(udp[2:]))
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
	ipv4.SetTotalLen(nip, ihl, ihl+n)
	binary.BigEndian.PutUint16(nip[ihl+4:], uint16(n))
	nip[ihl+6], nip[ihl+7] = 0, 0
	return out, MSSLDecrypted
}
