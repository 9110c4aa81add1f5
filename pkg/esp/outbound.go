package esp

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"github.com/mstool/mstool/internal/inetsum"
	"github.com/mstool/mstool/pkg/ipv4"
	"io"
	"sync/atomic"
)

// Outbound encapsulates packets for one outbound SA. It is safe for
// concurrent use; sequence numbers are allocated atomically, start at 1 and
// are never reused.
type Outbound struct {
	sa      SA
	t       *transform
	next    atomic.Uint64 // next sequence number to use
	maxSeq  uint64
	outer4  bool // tunnel: the outer header is IPv4
	hasAddr bool
}

// OutboundOption configures NewOutbound.
type OutboundOption func(*outboundConfig)

type outboundConfig struct {
	rand    io.Reader
	nextSeq uint64
}

// WithRand makes CBC suites read their IVs from r instead of the default
// generator. r must be safe for concurrent use if the Outbound is used
// concurrently, and must give unpredictable bytes (RFC 3602 §2.3); it is
// meant for known-answer tests. Other suites ignore it.
func WithRand(r io.Reader) OutboundOption {
	return func(c *outboundConfig) { c.rand = r }
}

// WithNextSeq sets the first sequence number to use (default 1), for
// instance to resume an SA whose counter was saved. It must not be 0.
func WithNextSeq(n uint64) OutboundOption {
	return func(c *outboundConfig) { c.nextSeq = n }
}

// NewOutbound returns the sending side of sa. The SA is validated and its
// keys are copied. Tunnel mode needs the SA's Src and Dst (the outer
// addresses).
//
// CBC IVs are by default AES_K'(sequence number || 0^64) under a random
// key K' drawn from crypto/rand here: distinct because sequence numbers are,
// and unpredictable without K', as RFC 3602 §2.3 requires, at no per-packet
// allocation or system call. CTR, GCM and CCM use the 64-bit sequence number
// as their 8-byte IV: those modes need IVs that never repeat under a key
// (RFC 3686 §3, RFC 4106 §3.1, RFC 4309 §3.1), not unpredictable ones, and
// the sequence number never repeats.
func NewOutbound(sa *SA, opts ...OutboundOption) (*Outbound, error) {
	cfg := outboundConfig{nextSeq: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.nextSeq == 0 {
		return nil, errors.New("esp: the first sequence number must not be 0")
	}
	t, err := newTransform(sa, true)
	if err != nil {
		return nil, err
	}
	if sa.Mode == Tunnel && !sa.Src.IsValid() {
		return nil, errors.New("esp: outbound tunnel mode needs source and destination addresses")
	}
	if t.kind == kindCBC {
		if cfg.rand != nil {
			t.rand = cfg.rand
		} else {
			var k [aesKeyLen]byte
			if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
				return nil, errRandom
			}
			t.ivGen, _ = aes.NewCipher(k[:])
			clear(k[:])
		}
	}
	o := &Outbound{sa: cloneSA(sa), t: t, maxSeq: 0xffffffff}
	if sa.ESN {
		o.maxSeq = ^uint64(0)
	}
	if cfg.nextSeq > o.maxSeq {
		return nil, ErrSeqExhausted
	}
	o.next.Store(cfg.nextSeq)
	o.hasAddr = sa.Src.IsValid()
	o.outer4 = sa.Src.Is4()
	return o, nil
}

// SA returns a copy of the SA the Outbound was made from.
func (o *Outbound) SA() SA { return cloneSA(&o.sa) }

// NextSeq returns the sequence number the next packet will carry.
func (o *Outbound) NextSeq() uint64 { return o.next.Load() }

// allocSeq reserves the next sequence number. Without ESN the counter stops
// at 2^32-1 (RFC 4303 §3.3.3: it must not cycle); with ESN at 2^64-1.
func (o *Outbound) allocSeq() (uint64, error) {
	for {
		n := o.next.Load()
		if n == 0 || n > o.maxSeq {
			return 0, ErrSeqExhausted
		}
		if o.next.CompareAndSwap(n, n+1) { // n+1 wraps to 0 after 2^64-1: exhausted
			return n, nil
		}
	}
}

// Seal appends to dst an ESP packet (SPI through ICV) carrying payload,
// whose protocol is nextHeader, under the next sequence number. payload must
// not overlap the bytes appended to dst. Seal does not allocate when dst has
// room for the result (len(payload) + 64 bytes always suffice).
func (o *Outbound) Seal(dst, payload []byte, nextHeader uint8) ([]byte, error) {
	if len(payload) > maxPayload {
		return nil, errTooLong
	}
	seq, err := o.allocSeq()
	if err != nil {
		return nil, err
	}
	return o.t.seal(dst, payload, nextHeader, seq)
}

// SealPacket encapsulates the IPv4 or IPv6 packet pkt and appends the
// result, a complete IP packet, to dst.
//
// In transport mode ESP is inserted after the IPv4 header (options kept)
// or after the IPv6 Hop-by-Hop, Routing and preceding Destination Options
// headers, and the protocol, length and checksum are fixed; IP fragments are
// refused. In tunnel mode the whole packet is wrapped in a new outer header
// from the SA's Src to Dst, with TTL (hop limit) 64 and the TOS (traffic
// class) and, for IPv4 inside IPv4, the DF bit copied from the inner packet.
// With SA.Encap set, a UDP header (RFC 3948, checksum zero over IPv4) sits
// between the IP header and ESP.
//
// pkt must not overlap the bytes appended to dst. Bytes after pkt's IP
// length are ignored. SealPacket does not allocate when dst has room for
// len(pkt) + 128 bytes.
func (o *Outbound) SealPacket(dst, pkt []byte) ([]byte, error) {
	if o.sa.Mode == Tunnel {
		return o.sealTunnel(dst, pkt)
	}
	info, err := parseIP(pkt, true)
	if err != nil {
		return nil, err
	}
	if o.hasAddr && (info.version == 4) != o.outer4 {
		return nil, errAddrFamily
	}
	payload := pkt[info.hdrLen:info.end]
	encap := 0
	if o.sa.Encap != nil {
		encap = udpHeaderLen
	}
	if info.hdrLen+encap+o.t.sealedLen(len(payload)) > 0xffff+ipv6HeaderLen*boolInt(info.version == 6) {
		return nil, errTooLong
	}
	seq, err := o.allocSeq()
	if err != nil {
		return nil, err
	}
	start := len(dst)
	out := append(dst, pkt[:info.hdrLen]...)
	out, _ = grow(out, encap)
	out, err = o.t.seal(out, payload, info.proto, seq)
	if err != nil {
		return nil, err
	}
	ip := out[start:]
	ip[info.nhOff] = protoESP
	if encap != 0 {
		ip[info.nhOff] = protoUDP
		putUDP(ip[info.hdrLen:], o.sa.Encap.SrcPort, o.sa.Encap.DstPort, len(ip)-info.hdrLen)
	}
	if info.version == 4 {
		fixIPv4(ip, info.hdrLen)
	} else {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-ipv6HeaderLen))
		if encap != 0 {
			o.v6UDPChecksum(ip, info.hdrLen)
		}
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// v6UDPChecksum fills in the UDP checksum of an ESP-in-UDP datagram over
// IPv6, where a zero checksum is not allowed (RFC 8200 §8.1).
func (o *Outbound) v6UDPChecksum(ip []byte, off int) {
	src, dst := ipAddrs(ip, &ipInfo{version: 6})
	binary.BigEndian.PutUint16(ip[off+6:], inetsum.UDP(src, dst, ip[off:]))
}

func (o *Outbound) sealTunnel(dst, pkt []byte) ([]byte, error) {
	if len(pkt) == 0 {
		return nil, errShort
	}
	var nh, tos uint8
	var df bool
	var end int
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < ipv4HeaderLen {
			return nil, errShort
		}
		f, err := ipv4.ReadFields(pkt)
		if err != nil {
			return nil, errIPHeader
		}
		end = f.TotalLen
		nh, tos, df = protoIPv4, f.TOS, f.DF()
	case 6:
		if len(pkt) < ipv6HeaderLen {
			return nil, errShort
		}
		end = ipv6HeaderLen + int(binary.BigEndian.Uint16(pkt[4:]))
		nh, tos = protoIPv6, uint8(binary.BigEndian.Uint16(pkt[0:])>>4)
	default:
		return nil, errIPVersion
	}
	if end > len(pkt) || end < ipv4HeaderLen {
		return nil, errIPLength
	}
	inner := pkt[:end]
	hl := ipv6HeaderLen
	if o.outer4 {
		hl = ipv4HeaderLen
	}
	encap := 0
	if o.sa.Encap != nil {
		encap = udpHeaderLen
	}
	if hl+encap+o.t.sealedLen(len(inner)) > 0xffff+ipv6HeaderLen*boolInt(!o.outer4) {
		return nil, errTooLong
	}
	seq, err := o.allocSeq()
	if err != nil {
		return nil, err
	}
	proto := uint8(protoESP)
	if encap != 0 {
		proto = protoUDP
	}
	start := len(dst)
	out, b := grow(dst, hl+encap)
	// RFC 6864: the ID of an atomic datagram (DF set) is not used; otherwise
	// the low bits of the sequence number give distinct IDs.
	putIPHeader(b, o.sa.Src, o.sa.Dst, proto, tos, defaultTTL, df && o.outer4, uint16(seq))
	out, err = o.t.seal(out, inner, nh, seq)
	if err != nil {
		return nil, err
	}
	ip := out[start:]
	if encap != 0 {
		putUDP(ip[hl:], o.sa.Encap.SrcPort, o.sa.Encap.DstPort, len(ip)-hl)
	}
	if o.outer4 {
		fixIPv4(ip, hl)
	} else {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-ipv6HeaderLen))
		if encap != 0 {
			o.v6UDPChecksum(ip, hl)
		}
	}
	return out, nil
}
