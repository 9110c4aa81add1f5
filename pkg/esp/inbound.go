package esp

import (
	"encoding/binary"
	"sync"

	"github.com/mstool/mstool/pkg/replay"
)

// Inbound decapsulates the packets of one inbound SA. It is safe for
// concurrent use: authentication and decryption share no mutable state, and
// the anti-replay window is guarded by a mutex.
type Inbound struct {
	sa SA
	t  *transform

	mu  sync.Mutex
	win replay.Window
}

// NewInbound returns the receiving side of sa. The SA is validated and its
// keys are copied.
func NewInbound(sa *SA) (*Inbound, error) {
	t, err := newTransform(sa, false)
	if err != nil {
		return nil, err
	}
	in := &Inbound{sa: cloneSA(sa), t: t}
	in.win.Init(sa.ReplayWindow)
	return in, nil
}

// SA returns a copy of the SA the Inbound was made from.
func (in *Inbound) SA() SA { return cloneSA(&in.sa) }

func cloneSA(sa *SA) SA {
	c := *sa
	c.EncKey = append([]byte(nil), sa.EncKey...)
	c.AuthKey = append([]byte(nil), sa.AuthKey...)
	if sa.Encap != nil {
		e := *sa.Encap
		c.Encap = &e
	}
	return c
}

// seqFor returns the full sequence number of a packet whose header carries
// seqLow: itself, or with ESN inferred from the window (RFC 4303 App. A2.2).
func (in *Inbound) seqFor(seqLow uint32) uint64 {
	if !in.t.esn {
		return uint64(seqLow)
	}
	in.mu.Lock()
	seq := in.win.InferESN(seqLow)
	in.mu.Unlock()
	return seq
}

// checkSPI checks the header of the ESP packet esp.
func (in *Inbound) checkSPI(esp []byte) error {
	if len(esp) < espHeaderLen {
		return errShort
	}
	if binary.BigEndian.Uint32(esp) != in.t.spi {
		return ErrUnknownSPI
	}
	return nil
}

// Open authenticates and decrypts the ESP packet esp (from the SPI field
// through the ICV) and appends its payload to dst, returning the payload's
// next header (protocol) number. In order, it: checks the SPI and the
// anti-replay window, verifies the ICV in constant time, decrypts, checks
// the padding, and marks the sequence number as received. dst must not
// overlap esp; Open does not allocate when dst has room for len(esp) bytes.
//
// A packet that fails to authenticate returns ErrAuth and nothing else is
// learnt about it.
func (in *Inbound) Open(dst, esp []byte) ([]byte, uint8, error) {
	if err := in.checkSPI(esp); err != nil {
		return nil, 0, err
	}
	seqLow := binary.BigEndian.Uint32(esp[4:])
	in.mu.Lock()
	seq := uint64(seqLow)
	if in.t.esn {
		seq = in.win.InferESN(seqLow)
	}
	ok := in.win.Check(seq) // RFC 4303 §3.4.3: before the integrity check
	in.mu.Unlock()
	if !ok {
		return nil, 0, ErrReplay
	}
	out, nh, err := in.t.open(dst, esp, seq)
	if err != nil {
		return nil, 0, err
	}
	if err := in.CheckAndUpdateReplay(seq); err != nil {
		clear(out[len(dst):])
		return nil, 0, err
	}
	return out, nh, nil
}

// OpenNoReplay is Open without the anti-replay window: it authenticates and
// decrypts esp and returns the full 64-bit sequence number, which the caller
// must pass to CheckAndUpdateReplay, in arrival order, before using the
// payload. This splits the work for a parallel pipeline: many goroutines may
// call OpenNoReplay at once while one goroutine checks the window in order.
//
// With ESN the high-order half of the sequence number is inferred from the
// window as it is at the time of the call; if the packet does not
// authenticate with that guess, the next higher half is tried once, so that a
// window lagging behind by the depth of a pipeline still works.
func (in *Inbound) OpenNoReplay(dst, esp []byte) ([]byte, uint8, uint64, error) {
	if err := in.checkSPI(esp); err != nil {
		return nil, 0, 0, err
	}
	seq := in.seqFor(binary.BigEndian.Uint32(esp[4:]))
	out, nh, err := in.t.open(dst, esp, seq)
	if err == ErrAuth && in.t.esn && seq>>32 != 0xffffffff {
		seq += 1 << 32
		out, nh, err = in.t.open(dst, esp, seq)
	}
	if err != nil {
		return nil, 0, 0, err
	}
	return out, nh, seq, nil
}

// CheckAndUpdateReplay checks seq against the anti-replay window and, if it
// is new and inside or ahead of the window, marks it as received. It returns
// ErrReplay otherwise. Call it only for packets that authenticated.
func (in *Inbound) CheckAndUpdateReplay(seq uint64) error {
	in.mu.Lock()
	ok := in.win.CheckAndUpdate(seq)
	in.mu.Unlock()
	if !ok {
		return ErrReplay
	}
	return nil
}

// OpenPacket decapsulates an IPv4 or IPv6 packet carrying ESP, directly
// (protocol 50) or in UDP (RFC 3948; to or from port 4500 or the SA's Encap
// ports), and appends the inner IP packet to dst. In transport mode that is
// the original IP header (with any IPv6 extension headers before ESP) with
// its protocol, length and IPv4 checksum restored, followed by the payload;
// in tunnel mode it is the inner packet as sent. Bytes after the IP packet's
// length (link-layer padding) are ignored.
//
// It returns ErrNotESP for packets without ESP, ErrUnknownSPI for another
// SA's packets, ErrReplay, ErrAuth, ErrDummy for dummy packets, and errors
// wrapping ErrMalformed. dst must not overlap pkt; OpenPacket does not
// allocate when dst has room for len(pkt) bytes.
func (in *Inbound) OpenPacket(dst, pkt []byte) ([]byte, error) {
	return in.openPacket(dst, pkt, true)
}

// OpenPacketNoReplay is OpenPacket without the anti-replay window, for
// parallel pipelines; see OpenNoReplay. It returns the packet's full
// sequence number, which the caller passes to CheckAndUpdateReplay in
// arrival order. For a dummy packet it returns ErrDummy with a valid
// sequence number, so the window can still be updated.
func (in *Inbound) OpenPacketNoReplay(dst, pkt []byte) ([]byte, uint64, error) {
	var seq uint64
	out, err := in.openPacketSeq(dst, pkt, false, &seq)
	return out, seq, err
}

func (in *Inbound) openPacket(dst, pkt []byte, replay bool) ([]byte, error) {
	var seq uint64
	return in.openPacketSeq(dst, pkt, replay, &seq)
}

// OpenParsedNoReplay is OpenPacketNoReplay for a packet that ParsePacket
// has parsed into h, which saves parsing it again: h must be what
// ParsePacket returned for pkt.
func (in *Inbound) OpenParsedNoReplay(dst, pkt []byte, h *Header) ([]byte, uint64, error) {
	var seq uint64
	out, err := in.openLocated(dst, pkt, h, false, &seq)
	return out, seq, err
}

func (in *Inbound) openPacketSeq(dst, pkt []byte, replay bool, seqOut *uint64) ([]byte, error) {
	info, err := parseIP(pkt, false)
	if err != nil {
		return nil, err
	}
	var p1, p2 uint16
	if in.sa.Encap != nil {
		p1, p2 = in.sa.Encap.SrcPort, in.sa.Encap.DstPort
	}
	h, err := locateESP(pkt, info, p1, p2)
	if err != nil {
		return nil, err
	}
	return in.openLocated(dst, pkt, &h, replay, seqOut)
}

// openLocated opens the ESP packet that h locates in pkt.
func (in *Inbound) openLocated(dst, pkt []byte, h *Header, replay bool, seqOut *uint64) ([]byte, error) {
	if h.Offset+h.Length > len(pkt) || h.ipHdrLen > h.Offset || h.nhOff >= h.ipHdrLen {
		return nil, errShort // not a Header of pkt
	}
	esp := pkt[h.Offset : h.Offset+h.Length]
	o := len(dst)
	out := dst
	if in.sa.Mode == Transport {
		// The IP header (and IPv6 extension headers) before ESP or UDP.
		out = append(out, pkt[:h.ipHdrLen]...)
	}
	var err error
	var nh uint8
	if replay {
		out, nh, err = in.Open(out, esp)
	} else {
		out, nh, *seqOut, err = in.OpenNoReplay(out, esp)
	}
	if err != nil {
		return nil, err
	}
	if nh == protoNoNext {
		clear(out[o:])
		return nil, ErrDummy
	}
	if in.sa.Mode == Tunnel {
		inner := out[o:]
		if nh != protoIPv4 && nh != protoIPv6 {
			clear(inner)
			return nil, errNextHeader
		}
		if len(inner) == 0 || (nh == protoIPv4) != (inner[0]>>4 == 4) || (nh == protoIPv6) != (inner[0]>>4 == 6) {
			clear(inner)
			return nil, errInnerPacket
		}
		return out, nil
	}
	ip := out[o:]
	ip[h.nhOff] = nh
	if h.Version == 4 {
		fixIPv4(ip, h.ipHdrLen)
	} else {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-ipv6HeaderLen))
	}
	return out, nil
}
