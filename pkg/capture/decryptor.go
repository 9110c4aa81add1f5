package capture

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"

	"github.com/mstool/mstool/pkg/esp"
)

// Result says what happened to one captured packet.
type Result uint8

// Packet results. Only Decrypted packets are replaced in the output; every
// other packet is written unchanged.
const (
	Other           Result = iota // no ESP: copied unchanged (also NAT-keepalives, IKE, unsupported link types)
	Decrypted                     // authenticated, decrypted, replaced by its inner packet
	FailedICV                     // ESP whose ICV does not verify (tampered, truncated body or wrong key)
	Replayed                      // authenticated but replayed, or left of the anti-replay window
	UnknownSPI                    // ESP for which no SA was given
	Malformed                     // ESP or IP that cannot be parsed (short, bad lengths, bad padding, fragments)
	Dummy                         // authenticated dummy packet (RFC 4303 §2.6): nothing inside, copied unchanged
	Unrepresentable               // authenticated, but the inner IP version cannot be written on this link type
	MSSLDecrypted                 // an MSSL record opened with a key log's keys: its UDP payload replaced by the plaintext
	MSSLFailed                    // an MSSL record that no logged session opens: copied unchanged
)

var resultNames = [...]string{
	Other:           "other",
	Decrypted:       "decrypted",
	FailedICV:       "failed-icv",
	Replayed:        "replayed",
	UnknownSPI:      "unknown-spi",
	Malformed:       "malformed",
	Dummy:           "dummy",
	Unrepresentable: "unrepresentable",
	MSSLDecrypted:   "mssl-decrypted",
	MSSLFailed:      "mssl-failed",
}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Stats counts packets by result. Packets is their sum.
type Stats struct {
	Packets         uint64
	Decrypted       uint64
	FailedICV       uint64
	Replayed        uint64
	UnknownSPI      uint64
	Malformed       uint64
	Dummy           uint64
	Unrepresentable uint64
	Other           uint64
	MSSLDecrypted   uint64 // MSSL records decrypted (Options.MSSL)
	MSSLFailed      uint64 // MSSL records no logged session opens

	// Truncated is set when the input capture ended in the middle of a
	// record (a capture that was cut off): everything before was processed.
	Truncated bool
	// Format is the input's (and output's) file format.
	Format Format
}

func (s *Stats) add(r Result) {
	s.Packets++
	switch r {
	case Decrypted:
		s.Decrypted++
	case FailedICV:
		s.FailedICV++
	case Replayed:
		s.Replayed++
	case UnknownSPI:
		s.UnknownSPI++
	case Malformed:
		s.Malformed++
	case Dummy:
		s.Dummy++
	case Unrepresentable:
		s.Unrepresentable++
	case MSSLDecrypted:
		s.MSSLDecrypted++
	case MSSLFailed:
		s.MSSLFailed++
	default:
		s.Other++
	}
}

// saTable looks inbound SAs up by SPI and outer destination address.
type saTable struct {
	bySPI map[uint32][]saEntry
}

type saEntry struct {
	in  *esp.Inbound
	dst netip.Addr // outer destination; invalid: any
}

func newSATable(sas []*esp.SA) (*saTable, error) {
	if len(sas) == 0 {
		return nil, errors.New("capture: no SAs given")
	}
	t := &saTable{bySPI: make(map[uint32][]saEntry, len(sas))}
	for _, sa := range sas {
		for _, other := range t.bySPI[sa.SPI] {
			if other.dst == sa.Dst || !other.dst.IsValid() || !sa.Dst.IsValid() {
				return nil, fmt.Errorf("capture: two SAs with SPI 0x%08x for the same destination", sa.SPI)
			}
		}
		in, err := esp.NewInbound(sa)
		if err != nil {
			return nil, fmt.Errorf("capture: SA 0x%08x: %w", sa.SPI, err)
		}
		t.bySPI[sa.SPI] = append(t.bySPI[sa.SPI], saEntry{in: in, dst: sa.Dst})
	}
	return t, nil
}

func (t *saTable) lookup(h *esp.Header) *esp.Inbound {
	for _, e := range t.bySPI[h.SPI] {
		if !e.dst.IsValid() || e.dst == h.Dst {
			return e.in
		}
	}
	return nil
}

// opened is the outcome of the parallel step for one packet.
type opened struct {
	result Result
	in     *esp.Inbound // set when the replay check is still to be done
	seq    uint64
	spi    uint32
}

// open is the parallel half of decryption: find the IP packet in frame,
// look its SA up, authenticate and decrypt. On success the output frame
// (link header + inner packet) is appended to dst. The replay check is
// left to commit, which must run in capture order.
func (t *saTable) open(dst []byte, lt layers.LinkType, frame []byte) ([]byte, opened) {
	off, typeOff, ok := ipOffset(lt, frame)
	if !ok {
		return dst, opened{result: Other}
	}
	ip := frame[off:]
	h, err := esp.ParsePacket(ip)
	if err != nil {
		if errors.Is(err, esp.ErrNotESP) {
			return dst, opened{result: Other}
		}
		return dst, opened{result: Malformed}
	}
	in := t.lookup(&h)
	if in == nil {
		return dst, opened{result: UnknownSPI, spi: h.SPI}
	}
	start := len(dst)
	dst = append(dst, frame[:off]...)
	out, seq, err := in.OpenParsedNoReplay(dst, ip, &h)
	o := opened{in: in, seq: seq, spi: h.SPI}
	switch {
	case err == nil:
		if len(out) == len(dst) || !fixLink(lt, out[start:], typeOff, out[len(dst)]>>4) {
			o.result = Unrepresentable
			return dst[:start], o
		}
		o.result = Decrypted
		return out, o
	case errors.Is(err, esp.ErrDummy):
		o.result = Dummy
	case errors.Is(err, esp.ErrAuth):
		o.in, o.result = nil, FailedICV
	case errors.Is(err, esp.ErrReplay):
		o.in, o.result = nil, Replayed
	case errors.Is(err, esp.ErrUnknownSPI):
		o.in, o.result = nil, UnknownSPI
	default:
		o.in, o.result = nil, Malformed
	}
	return dst[:start], o
}

// commit is the sequential half: the anti-replay check, in capture order,
// for packets that authenticated. It returns the final result.
func commit(o *opened) Result {
	if o.in == nil {
		return o.result
	}
	if err := o.in.CheckAndUpdateReplay(o.seq); err != nil {
		return Replayed
	}
	return o.result
}

// Decryptor decrypts packets one at a time, in order, for live capture.
// It is not safe for concurrent use; DecryptCapture is the parallel path.
type Decryptor struct {
	t *saTable
}

// NewDecryptor returns a Decryptor for the given SAs (both directions of a
// session may be given: every SA is used to decrypt).
func NewDecryptor(sas []*esp.SA) (*Decryptor, error) {
	t, err := newSATable(sas)
	if err != nil {
		return nil, err
	}
	return &Decryptor{t: t}, nil
}

// PacketInfo describes the outcome of Decryptor.Packet.
type PacketInfo struct {
	Result Result
	SPI    uint32 // for ESP packets
	Seq    uint64 // for authenticated ESP packets
}

// Packet processes one frame of link type lt. When the result is Decrypted
// it appends the frame to write (link header + inner packet) to dst and
// returns it; otherwise it returns dst unchanged and the frame is to be
// written as it was.
func (d *Decryptor) Packet(dst []byte, lt layers.LinkType, frame []byte) ([]byte, PacketInfo) {
	out, o := d.t.open(dst, lt, frame)
	r := commit(&o)
	info := PacketInfo{Result: r, SPI: o.spi}
	if o.in != nil || r == Decrypted || r == Dummy {
		info.Seq = o.seq
	}
	if r != Decrypted {
		return dst, info
	}
	return out, info
}
