package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"

	"github.com/mstool/mstool/pkg/ipv4"
)

// Describe returns a one-line summary of a frame of link type lt, such as
// "192.0.2.1 → 192.0.2.2 ICMP echo request id 7 seq 1" or
// "192.0.2.2 → 192.0.2.1 ESP spi 0x1f2e3d4c seq 9". It never fails: what it
// cannot parse it calls so.
func Describe(lt layers.LinkType, frame []byte) string {
	off, _, ok := ipOffset(lt, frame)
	if !ok {
		if lt == LinkTypeEthernet && len(frame) >= ethHeaderLen {
			return fmt.Sprintf("non-IP frame, EtherType 0x%04x, %d bytes", binary.BigEndian.Uint16(frame[ethTypeOffset:]), len(frame))
		}
		return fmt.Sprintf("non-IP frame, %d bytes", len(frame))
	}
	ip := frame[off:]
	if len(ip) < 1 {
		return "empty IP packet"
	}
	var src, dst netip.Addr
	var proto uint8
	var payload []byte
	switch ip[0] >> 4 {
	case 4:
		h, err := ipv4.ReadFields(ip)
		if err != nil {
			return fmt.Sprintf("truncated IPv4 packet, %d bytes", len(ip))
		}
		src, dst, proto = h.Src, h.Dst, h.Protocol
		var ok bool
		if payload, ok = h.Payload(ip); !ok {
			payload = ip[h.HeaderLen:] // a wrong total length: what is there
		}
		if h.FragmentOffset() != 0 {
			return fmt.Sprintf("%s → %s IPv4 fragment, protocol %d, %d bytes", src, dst, proto, len(ip))
		}
	case 6:
		if len(ip) < 40 {
			return fmt.Sprintf("truncated IPv6 packet, %d bytes", len(ip))
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		proto = ip[6]
		payload = ip[40:]
	default:
		return fmt.Sprintf("not IPv4 or IPv6, %d bytes", len(ip))
	}
	return fmt.Sprintf("%s → %s %s", src, dst, describeL4(proto, payload))
}

func describeL4(proto uint8, p []byte) string {
	switch proto {
	case 1, 58:
		if len(p) < 8 {
			return "ICMP (truncated)"
		}
		name := "ICMP"
		if proto == 58 {
			name = "ICMPv6"
		}
		switch {
		case proto == 1 && p[0] == 8, proto == 58 && p[0] == 128:
			return fmt.Sprintf("%s echo request id %d seq %d, %d bytes", name, binary.BigEndian.Uint16(p[4:]), binary.BigEndian.Uint16(p[6:]), len(p)-8)
		case proto == 1 && p[0] == 0, proto == 58 && p[0] == 129:
			return fmt.Sprintf("%s echo reply id %d seq %d, %d bytes", name, binary.BigEndian.Uint16(p[4:]), binary.BigEndian.Uint16(p[6:]), len(p)-8)
		}
		return fmt.Sprintf("%s type %d code %d", name, p[0], p[1])
	case 17:
		if len(p) < 8 {
			return "UDP (truncated)"
		}
		sp, dp := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
		if (sp == 4500 || dp == 4500) && len(p) >= 16 && binary.BigEndian.Uint32(p[8:]) != 0 {
			return fmt.Sprintf("UDP %d → %d ESP spi 0x%08x seq %d", sp, dp, binary.BigEndian.Uint32(p[8:]), binary.BigEndian.Uint32(p[12:]))
		}
		return fmt.Sprintf("UDP %d → %d, %d bytes", sp, dp, len(p)-8)
	case 6:
		if len(p) < 20 {
			return "TCP (truncated)"
		}
		return fmt.Sprintf("TCP %d → %d", binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
	case 50:
		if len(p) < 8 {
			return "ESP (truncated)"
		}
		return fmt.Sprintf("ESP spi 0x%08x seq %d", binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:]))
	case 4:
		return "IPv4-in-IP"
	case 41:
		return "IPv6-in-IP"
	}
	return fmt.Sprintf("protocol %d, %d bytes", proto, len(p))
}
