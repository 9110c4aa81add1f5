package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Link types (https://www.tcpdump.org/linktypes.html) whose IP packets
// this package finds and rewrites.
const (
	LinkTypeEthernet = layers.LinkType(1)   // LINKTYPE_ETHERNET
	LinkTypeSLIP     = layers.LinkType(8)   // LINKTYPE_SLIP: 16-byte header, then IPv4
	LinkTypeRaw      = layers.LinkType(101) // LINKTYPE_RAW: IPv4 or IPv6
	LinkTypeSLL      = layers.LinkType(113) // LINKTYPE_LINUX_SLL
	LinkTypeIPv4     = layers.LinkType(228) // LINKTYPE_IPV4
	LinkTypeIPv6     = layers.LinkType(229) // LINKTYPE_IPV6
	LinkTypeSLL2     = layers.LinkType(276) // LINKTYPE_LINUX_SLL2
)

// Link-layer sizes and offsets.
const (
	ethHeaderLen   = 14 // destination, source, EtherType
	ethTypeOffset  = 12
	vlanTagLen     = 4
	maxVLANTags    = 2
	sllHeaderLen   = 16 // LINKTYPE_LINUX_SLL
	sllTypeOffset  = 14
	sll2HeaderLen  = 20 // LINKTYPE_LINUX_SLL2
	sll2TypeOffset = 0
	slipHeaderLen  = 16 // LINKTYPE_SLIP: direction, type, 14 bytes of CSLIP history
	slipTypeOffset = 1

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	etherType9100 = 0x9100

	slipTypeIP           = 0x40 // SLX_CHDR type: plain IP
	slipTypeUncompressed = 0x70 // VJ uncompressed TCP
	slipTypeCompressed   = 0x80 // VJ compressed TCP (high bit)
)

// SupportedLinkType reports whether packets of link type lt can be
// decrypted: Ethernet, raw IP (101, 228, 229), Linux cooked SLL and SLL2,
// and SLIP. Packets of other link types are copied unchanged.
func SupportedLinkType(lt layers.LinkType) bool {
	switch lt {
	case LinkTypeEthernet, LinkTypeSLIP, LinkTypeRaw, LinkTypeSLL, LinkTypeIPv4, LinkTypeIPv6, LinkTypeSLL2:
		return true
	}
	return false
}

// ipOffset returns where the IP packet starts in a frame of link type lt,
// and the offset of the 2-byte EtherType-like protocol field to fix when the
// inner packet's IP version differs (-1 when the link has none). ok is false
// when the frame holds no IPv4 or IPv6 packet.
func ipOffset(lt layers.LinkType, frame []byte) (off, typeOff int, ok bool) {
	switch lt {
	case LinkTypeEthernet:
		if len(frame) < ethHeaderLen {
			return 0, 0, false
		}
		typeOff = ethTypeOffset
		for tags := 0; ; tags++ {
			et := binary.BigEndian.Uint16(frame[typeOff:])
			if et == etherTypeIPv4 || et == etherTypeIPv6 {
				return typeOff + 2, typeOff, true
			}
			if (et != etherTypeVLAN && et != etherTypeQinQ && et != etherType9100) || tags == maxVLANTags {
				return 0, 0, false
			}
			typeOff += vlanTagLen
			if len(frame) < typeOff+2 {
				return 0, 0, false
			}
		}
	case LinkTypeSLL, LinkTypeSLL2:
		hl, to := sllHeaderLen, sllTypeOffset
		if lt == LinkTypeSLL2 {
			hl, to = sll2HeaderLen, sll2TypeOffset
		}
		if len(frame) < hl {
			return 0, 0, false
		}
		et := binary.BigEndian.Uint16(frame[to:])
		if et != etherTypeIPv4 && et != etherTypeIPv6 {
			return 0, 0, false
		}
		return hl, to, true
	case LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6:
		return 0, -1, true
	case LinkTypeSLIP:
		if len(frame) < slipHeaderLen {
			return 0, 0, false
		}
		t := frame[slipTypeOffset]
		if t&slipTypeCompressed != 0 || t&0xf0 == slipTypeUncompressed {
			return 0, 0, false // Van Jacobson compressed TCP: not a whole IP packet
		}
		return slipHeaderLen, -1, true
	}
	return 0, 0, false
}

// fixLink makes the link header in frame[:off] describe an inner IP packet
// of the given version (4 or 6). It reports false when the link type cannot
// carry that version (an IPv6 inner packet on LINKTYPE_IPV4 or SLIP).
func fixLink(lt layers.LinkType, frame []byte, typeOff int, version byte) bool {
	et := uint16(etherTypeIPv4)
	if version == 6 {
		et = etherTypeIPv6
	}
	switch lt {
	case LinkTypeEthernet, LinkTypeSLL, LinkTypeSLL2:
		binary.BigEndian.PutUint16(frame[typeOff:], et)
		return true
	case LinkTypeRaw:
		return true
	case LinkTypeIPv4, LinkTypeSLIP:
		return version == 4
	case LinkTypeIPv6:
		return version == 6
	}
	return false
}
