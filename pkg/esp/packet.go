package esp

import (
	"encoding/binary"
	"net/netip"

	"github.com/mstool/mstool/pkg/ipv4"
)

// IP protocol numbers and header sizes used here.
const (
	protoHopByHop = 0
	protoIPv4     = 4  // IP in IP: tunnel-mode next header for IPv4
	protoUDP      = 17 // ESP-in-UDP, RFC 3948
	protoIPv6     = 41 // tunnel-mode next header for IPv6
	protoRouting  = 43
	protoFragment = 44
	protoESP      = 50
	protoNoNext   = 59 // dummy packet, RFC 4303 §2.6
	protoDestOpts = 60

	ipv4HeaderLen = ipv4.HeaderLen
	ipv6HeaderLen = 40
	udpHeaderLen  = 8

	defaultTTL = 64
)

// UDPEncapPort is the IANA port for ESP-in-UDP and IKE NAT traversal
// (RFC 3948).
const UDPEncapPort = 4500

// ipInfo locates the parts of an IP packet.
type ipInfo struct {
	version int
	hdrLen  int        // IP header plus the IPv6 extension headers before the payload
	nhOff   int        // offset of the protocol / next header field naming the payload
	proto   uint8      // the payload's protocol
	end     int        // end of the IP packet (total length; trailing bytes ignored)
	src     netip.Addr // IPv4 only: the addresses, read with the header
	dst     netip.Addr
}

// parseIP parses an IPv4 or IPv6 header. For IPv6 it walks the
// Hop-by-Hop, Routing and Destination Options headers; when espInsert is
// set it stops, as Linux does, at a Destination Options header that follows
// a Routing header (the place for ESP in transport mode, RFC 4303 §3.1.1).
func parseIP(pkt []byte, espInsert bool) (ipInfo, error) {
	if len(pkt) == 0 {
		return ipInfo{}, errShort
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < ipv4HeaderLen {
			return ipInfo{}, errShort
		}
		f, err := ipv4.ReadFields(pkt)
		if err != nil || f.TotalLen < f.HeaderLen {
			return ipInfo{}, errIPHeader
		}
		if f.TotalLen > len(pkt) {
			return ipInfo{}, errIPLength
		}
		if f.Fragment() {
			return ipInfo{}, errFragment
		}
		return ipInfo{version: 4, hdrLen: f.HeaderLen, nhOff: ipv4.ProtocolOffset, proto: f.Protocol, end: f.TotalLen, src: f.Src, dst: f.Dst}, nil
	case 6:
		if len(pkt) < ipv6HeaderLen {
			return ipInfo{}, errShort
		}
		plen := int(binary.BigEndian.Uint16(pkt[4:]))
		if plen == 0 {
			return ipInfo{}, errIPHeader // jumbograms are not supported
		}
		end := ipv6HeaderLen + plen
		if end > len(pkt) {
			return ipInfo{}, errIPLength
		}
		info := ipInfo{version: 6, hdrLen: ipv6HeaderLen, nhOff: 6, proto: pkt[6], end: end}
		routing := false
		for {
			switch info.proto {
			case protoHopByHop, protoRouting, protoDestOpts:
				if info.proto == protoDestOpts && routing && espInsert {
					return info, nil
				}
				if info.proto == protoRouting {
					routing = true
				}
				if info.hdrLen+2 > end {
					return ipInfo{}, errIPHeader
				}
				n := (int(pkt[info.hdrLen+1]) + 1) * 8
				if info.hdrLen+n > end {
					return ipInfo{}, errIPHeader
				}
				info.nhOff = info.hdrLen
				info.proto = pkt[info.hdrLen]
				info.hdrLen += n
			case protoFragment:
				return ipInfo{}, errFragment
			default:
				return info, nil
			}
		}
	}
	return ipInfo{}, errIPVersion
}

// ipAddrs returns the source and destination addresses of a parsed packet.
func ipAddrs(pkt []byte, info *ipInfo) (src, dst netip.Addr) {
	if info.version == 4 {
		return info.src, info.dst
	}
	return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
}

// Header describes the ESP packet inside an IP packet, as ParsePacket
// finds it.
type Header struct {
	Version          int        // IP version of the outer packet: 4 or 6
	Src, Dst         netip.Addr // outer addresses
	Encap            bool       // ESP-in-UDP (RFC 3948)
	SrcPort, DstPort uint16     // UDP ports when Encap
	SPI              uint32
	Seq              uint32 // low-order 32 bits of the sequence number, as sent
	Offset           int    // offset of the ESP header (the SPI field) in the packet
	Length           int    // length of the ESP packet, up to the end of the IP payload

	ipHdrLen int // IP header and IPv6 extension headers before ESP or UDP
	nhOff    int // offset of the field naming the protocol after them
}

// ParsePacket finds the ESP packet in an IPv4 or IPv6 packet: directly on
// IP protocol 50, or in UDP to or from port 4500 (RFC 3948). It returns
// ErrNotESP for packets without ESP, including NAT-keepalives and
// non-ESP-marked (IKE) datagrams, and an error wrapping ErrMalformed for
// broken headers and IP fragments. It does not allocate.
func ParsePacket(pkt []byte) (Header, error) {
	info, err := parseIP(pkt, false)
	if err != nil {
		return Header{}, err
	}
	h, err := locateESP(pkt, info, 0, 0)
	if err != nil {
		return Header{}, err
	}
	return h, nil
}

// locateESP finds ESP in the payload of a parsed IP packet. UDP datagrams
// count as ESP-in-UDP when either port is 4500 or equal to port1 or port2
// (when nonzero).
func locateESP(pkt []byte, info ipInfo, port1, port2 uint16) (Header, error) {
	h := Header{Version: info.version, ipHdrLen: info.hdrLen, nhOff: info.nhOff}
	h.Src, h.Dst = ipAddrs(pkt, &info)
	switch info.proto {
	case protoESP:
		h.Offset = info.hdrLen
	case protoUDP:
		u := pkt[info.hdrLen:info.end]
		if len(u) < udpHeaderLen {
			return Header{}, errShort
		}
		ulen := int(binary.BigEndian.Uint16(u[4:]))
		if ulen < udpHeaderLen || ulen > len(u) {
			return Header{}, errUDPLength
		}
		h.SrcPort, h.DstPort = binary.BigEndian.Uint16(u[0:]), binary.BigEndian.Uint16(u[2:])
		if !isEncapPort(h.SrcPort, port1, port2) && !isEncapPort(h.DstPort, port1, port2) {
			return Header{}, ErrNotESP
		}
		if ClassifyUDP(u[udpHeaderLen:ulen]) != UDPESP {
			return Header{}, ErrNotESP
		}
		h.Encap = true
		h.Offset = info.hdrLen + udpHeaderLen
		info.end = info.hdrLen + ulen
	default:
		return Header{}, ErrNotESP
	}
	h.Length = info.end - h.Offset
	if h.Length < espHeaderLen {
		return Header{}, errShort
	}
	h.SPI = binary.BigEndian.Uint32(pkt[h.Offset:])
	h.Seq = binary.BigEndian.Uint32(pkt[h.Offset+4:])
	return h, nil
}

func isEncapPort(p, port1, port2 uint16) bool {
	return p == UDPEncapPort || (p != 0 && (p == port1 || p == port2))
}

// fixIPv4 sets the total length and recomputes the checksum of the IPv4
// header at the start of pkt, which is the whole packet.
func fixIPv4(pkt []byte, hdrLen int) { ipv4.SetTotalLen(pkt, hdrLen, len(pkt)) }

// putUDP writes a UDP header for a datagram of n bytes (header included)
// with a zero checksum, as RFC 3948 §2.1 allows for ESP-in-UDP.
func putUDP(b []byte, src, dst uint16, n int) {
	binary.BigEndian.PutUint16(b[0:], src)
	binary.BigEndian.PutUint16(b[2:], dst)
	binary.BigEndian.PutUint16(b[4:], uint16(n))
	b[6], b[7] = 0, 0
}
