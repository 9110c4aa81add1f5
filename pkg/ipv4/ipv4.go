// Package ipv4 builds and parses the few IPv4 packets a host exchanges with
// an mstool device: IPv4 headers (RFC 791) without options or fragments,
// UDP datagrams (RFC 768) and ICMP echo messages (RFC 792), all with their
// checksums (RFC 1071). It is the host's counterpart of the firmware's
// net/ stack and is as strict: parsers check exact lengths and checksums
// and never panic on any input (fuzzed: FuzzParse).
//
// Builders append to a caller-supplied slice, like the rest of mstool's
// wire code.
//
// It is also the one place of the IPv4 header's layout for the rest of
// the host's code: ReadFields reads a header as found on the wire
// (options and fragments allowed, nothing verified: pkg/esp's outer
// headers, pkg/capture's frames), PutHeader and SetTotalLen write one in
// place, without allocating.
package ipv4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mstool/mstool/internal/inetsum"
)

// Sizes and protocol numbers.
const (
	HeaderLen     = 20 // IPv4 header without options
	UDPHeaderLen  = 8
	ICMPHeaderLen = 8 // type, code, checksum, identifier, sequence number

	ProtoICMP = 1
	ProtoUDP  = 17
	ProtoESP  = 50

	ICMPEchoReply   = 0
	ICMPEchoRequest = 8

	// DefaultTTL is the TTL of packets built here.
	DefaultTTL = 64
	// MaxPacket is the largest IPv4 total length.
	MaxPacket = 0xffff
)

// ProtocolOffset is the offset of the protocol field in the IPv4 header
// (ESP's transport mode rewrites it).
const ProtocolOffset = offProto

// Field offsets in the IPv4 header.
const (
	offVersionIHL = 0
	offTOS        = 1
	offTotalLen   = 2
	offID         = 4
	offFlagsFrag  = 6
	offTTL        = 8
	offProto      = 9
	offChecksum   = 10
	offSrc        = 12
	offDst        = 16

	flagDF     = 0x4000
	flagMF     = 0x2000
	fragOffset = 0x1fff
)

// Errors callers can branch on (errors.Is). Every parse error wraps
// ErrMalformed.
var (
	ErrMalformed = errors.New("ipv4: malformed packet")
	ErrChecksum  = fmt.Errorf("%w: bad checksum", ErrMalformed)
	ErrFragment  = fmt.Errorf("%w: fragment", ErrMalformed)
	ErrOptions   = fmt.Errorf("%w: header options", ErrMalformed)
	ErrProtocol  = errors.New("ipv4: other protocol")
	errAddr      = errors.New("ipv4: addresses must be IPv4")
	errTooLong   = errors.New("ipv4: packet longer than 65535 bytes")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Header is the part of an IPv4 header mstool sets or reads.
type Header struct {
	TOS      uint8
	ID       uint16
	DF       bool // don't fragment
	TTL      uint8
	Protocol uint8
	Src, Dst netip.Addr
}

// Checksum is the Internet checksum (RFC 1071) of b: the ones' complement
// of the ones' complement sum of its 16-bit big-endian words (an odd last
// byte is padded with zero).
func Checksum(b []byte) uint16 { return inetsum.Checksum(b) }

// AppendHeader appends a 20-byte IPv4 header for a payload of payloadLen
// bytes, with its checksum, to dst.
func AppendHeader(dst []byte, h *Header, payloadLen int) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return nil, errAddr
	}
	if HeaderLen+payloadLen > MaxPacket {
		return nil, errTooLong
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	o := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	hh := *h
	hh.TTL = ttl
	PutHeader(dst[o:], &hh)
	SetTotalLen(dst[o:], HeaderLen, HeaderLen+payloadLen)
	return dst, nil
}

// PutHeader writes a 20-byte IPv4 header (no options) for h into
// b[:HeaderLen], TTL as given (0 stays 0), total length and checksum
// left to SetTotalLen. h's addresses must be IPv4.
func PutHeader(b []byte, h *Header) {
	_ = b[HeaderLen-1]
	b[offVersionIHL] = 4<<4 | HeaderLen/4
	b[offTOS] = h.TOS
	binary.BigEndian.PutUint16(b[offID:], h.ID)
	b[offFlagsFrag], b[offFlagsFrag+1] = 0, 0
	if h.DF {
		b[offFlagsFrag] = flagDF >> 8
	}
	b[offTTL] = h.TTL
	b[offProto] = h.Protocol
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[offSrc:offSrc+4], s[:])
	copy(b[offDst:offDst+4], d[:])
}

// SetTotalLen sets the total length of the IPv4 header at the start of
// pkt (hdrLen bytes, options included) to total and recomputes its
// checksum.
func SetTotalLen(pkt []byte, hdrLen, total int) {
	binary.BigEndian.PutUint16(pkt[offTotalLen:], uint16(total))
	pkt[offChecksum], pkt[offChecksum+1] = 0, 0
	binary.BigEndian.PutUint16(pkt[offChecksum:], Checksum(pkt[:hdrLen]))
}

// Fields is an IPv4 header as found on the wire (ReadFields): options
// allowed, the checksum and the total length not checked. It is how ESP
// and captures read outer headers; Parse is the device's strict check.
type Fields struct {
	HeaderLen int    // IHL × 4, options included: 20..60, within the buffer
	TotalLen  int    // the total length field, as sent
	FlagsFrag uint16 // the flags and fragment offset field
	TOS       uint8
	Protocol  uint8
	Src, Dst  netip.Addr
}

// Fragment reports whether the packet is part of a fragmented datagram:
// more fragments follow, or its offset is not zero.
func (f *Fields) Fragment() bool { return f.FlagsFrag&(flagMF|fragOffset) != 0 }

// FragmentOffset is the fragment offset field (in units of 8 bytes).
func (f *Fields) FragmentOffset() int { return int(f.FlagsFrag & fragOffset) }

// DF reports the don't-fragment flag.
func (f *Fields) DF() bool { return f.FlagsFrag&flagDF != 0 }

// Payload returns pkt[HeaderLen:TotalLen], the payload the header
// announces, and false when the total length is shorter than the header
// or longer than pkt.
func (f *Fields) Payload(pkt []byte) ([]byte, bool) {
	if f.TotalLen < f.HeaderLen || f.TotalLen > len(pkt) {
		return nil, false
	}
	return pkt[f.HeaderLen:f.TotalLen], true
}

// ReadFields reads the IPv4 header at the start of pkt. It fails, with an
// error wrapping ErrMalformed, only when pkt is shorter than 20 bytes, is
// not IPv4, or its header length is under 20 bytes or beyond pkt. It does
// not allocate.
func ReadFields(pkt []byte) (Fields, error) {
	if len(pkt) < HeaderLen {
		return Fields{}, malformed("%d bytes, shorter than a header", len(pkt))
	}
	if v := pkt[offVersionIHL] >> 4; v != 4 {
		return Fields{}, malformed("version %d", v)
	}
	ihl := int(pkt[offVersionIHL]&0x0f) * 4
	if ihl < HeaderLen || ihl > len(pkt) {
		return Fields{}, malformed("header length %d (%d bytes received)", ihl, len(pkt))
	}
	return Fields{
		HeaderLen: ihl,
		TotalLen:  int(binary.BigEndian.Uint16(pkt[offTotalLen:])),
		FlagsFrag: binary.BigEndian.Uint16(pkt[offFlagsFrag:]),
		TOS:       pkt[offTOS],
		Protocol:  pkt[offProto],
		Src:       netip.AddrFrom4([4]byte(pkt[offSrc : offSrc+4])),
		Dst:       netip.AddrFrom4([4]byte(pkt[offDst : offDst+4])),
	}, nil
}

// Parse checks an IPv4 packet as the device does (version 4, IHL 5, total
// length within the buffer, header checksum, no fragment) and returns its
// header and payload (bytes after the total length are ignored, as link
// padding). Options are refused with ErrOptions: neither side sends them.
func Parse(pkt []byte) (Header, []byte, error) {
	f, err := ReadFields(pkt)
	if err != nil {
		return Header{}, nil, err
	}
	payload, ok := f.Payload(pkt)
	if !ok {
		return Header{}, nil, malformed("total length %d (header %d, %d bytes received)", f.TotalLen, f.HeaderLen, len(pkt))
	}
	if Checksum(pkt[:f.HeaderLen]) != 0 {
		return Header{}, nil, ErrChecksum
	}
	if f.HeaderLen != HeaderLen {
		return Header{}, nil, ErrOptions
	}
	if f.Fragment() {
		return Header{}, nil, ErrFragment
	}
	return Header{
		TOS:      f.TOS,
		ID:       binary.BigEndian.Uint16(pkt[offID:]),
		DF:       f.DF(),
		TTL:      pkt[offTTL],
		Protocol: f.Protocol,
		Src:      f.Src,
		Dst:      f.Dst,
	}, payload, nil
}

// AppendUDP appends an IPv4 packet carrying one UDP datagram from src to
// dst, with the UDP checksum computed, to b.
func AppendUDP(b []byte, h *Header, src, dst uint16, payload []byte) ([]byte, error) {
	hh := *h
	hh.Protocol = ProtoUDP
	n := UDPHeaderLen + len(payload)
	b, err := AppendHeader(b, &hh, n)
	if err != nil {
		return nil, err
	}
	o := len(b)
	b = binary.BigEndian.AppendUint16(b, src)
	b = binary.BigEndian.AppendUint16(b, dst)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, 0, 0)
	b = append(b, payload...)
	c := ^inetsum.Fold(inetsum.Sum(inetsum.Pseudo(hh.Src, hh.Dst, ProtoUDP, n), b[o:]))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(b[o+6:], c)
	return b, nil
}

// UDP is a parsed UDP datagram.
type UDP struct {
	IP               Header
	SrcPort, DstPort uint16
	Payload          []byte // aliases the packet
}

// ParseUDP parses an IPv4 packet carrying UDP. The UDP length must match
// the IP payload exactly and the checksum must verify (a zero checksum,
// "none computed", is accepted as RFC 768 allows; ESP-in-UDP uses it).
func ParseUDP(pkt []byte) (UDP, error) {
	h, p, err := Parse(pkt)
	if err != nil {
		return UDP{}, err
	}
	if h.Protocol != ProtoUDP {
		return UDP{}, ErrProtocol
	}
	return parseUDP(h, p)
}

func parseUDP(h Header, p []byte) (UDP, error) {
	if len(p) < UDPHeaderLen {
		return UDP{}, malformed("udp: %d bytes", len(p))
	}
	if n := int(binary.BigEndian.Uint16(p[4:])); n != len(p) {
		return UDP{}, malformed("udp: length %d, ip payload %d", n, len(p))
	}
	if binary.BigEndian.Uint16(p[6:]) != 0 {
		if inetsum.Fold(inetsum.Sum(inetsum.Pseudo(h.Src, h.Dst, ProtoUDP, len(p)), p)) != 0xffff {
			return UDP{}, fmt.Errorf("%w (udp)", ErrChecksum)
		}
	}
	return UDP{IP: h, SrcPort: binary.BigEndian.Uint16(p), DstPort: binary.BigEndian.Uint16(p[2:]), Payload: p[UDPHeaderLen:]}, nil
}

// Echo is an ICMP echo request or reply.
type Echo struct {
	IP    Header
	Type  uint8 // ICMPEchoRequest or ICMPEchoReply
	ID    uint16
	Seq   uint16
	Data  []byte // aliases the packet
	Reply bool
}

// AppendEcho appends an IPv4 packet carrying an ICMP echo message (type
// ICMPEchoRequest or ICMPEchoReply) to b.
func AppendEcho(b []byte, h *Header, typ uint8, id, seq uint16, data []byte) ([]byte, error) {
	hh := *h
	hh.Protocol = ProtoICMP
	b, err := AppendHeader(b, &hh, ICMPHeaderLen+len(data))
	if err != nil {
		return nil, err
	}
	o := len(b)
	b = append(b, typ, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, seq)
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[o+2:], Checksum(b[o:]))
	return b, nil
}

// ParseEcho parses an IPv4 packet carrying an ICMP echo request or reply
// (code 0, checksum verified). Other ICMP messages give ErrProtocol.
func ParseEcho(pkt []byte) (Echo, error) {
	h, p, err := Parse(pkt)
	if err != nil {
		return Echo{}, err
	}
	if h.Protocol != ProtoICMP {
		return Echo{}, ErrProtocol
	}
	if len(p) < ICMPHeaderLen {
		return Echo{}, malformed("icmp: %d bytes", len(p))
	}
	if Checksum(p) != 0 {
		return Echo{}, fmt.Errorf("%w (icmp)", ErrChecksum)
	}
	if (p[0] != ICMPEchoRequest && p[0] != ICMPEchoReply) || p[1] != 0 {
		return Echo{}, ErrProtocol
	}
	return Echo{
		IP: h, Type: p[0], Reply: p[0] == ICMPEchoReply,
		ID: binary.BigEndian.Uint16(p[4:]), Seq: binary.BigEndian.Uint16(p[6:]),
		Data: p[ICMPHeaderLen:],
	}, nil
}
