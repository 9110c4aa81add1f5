// Package capturetest builds IPv4 packets and capture files for tests,
// benchmarks and the performance helper (internal/gencap): ICMP echo and UDP
// datagrams, link-layer framing for every link type pkg/capture reads, and
// pcap/pcapng writers.
package capturetest

import (
	"encoding/binary"
	"github.com/mstool/mstool/internal/inetsum"
	"github.com/mstool/mstool/pkg/ipv4"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Protocol numbers.
const (
	ProtoICMP = 1
	ProtoUDP  = 17
)

// Checksum is the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 { return inetsum.Checksum(b) }

// IPv4 returns an IPv4 packet (20-byte header, DF set, TTL 64) carrying
// payload as protocol proto.
func IPv4(src, dst netip.Addr, proto uint8, id uint16, payload []byte) []byte {
	p, err := ipv4.AppendHeader(make([]byte, 0, ipv4.HeaderLen+len(payload)), &ipv4.Header{ID: id, DF: true, TTL: 64, Protocol: proto, Src: src, Dst: dst}, len(payload))
	if err != nil {
		panic("capturetest: " + err.Error())
	}
	return append(p, payload...)
}

// ICMPEcho returns an IPv4 ICMP echo request.
func ICMPEcho(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	m := make([]byte, 8+len(data))
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], data)
	binary.BigEndian.PutUint16(m[2:], Checksum(m))
	return IPv4(src, dst, ProtoICMP, seq, m)
}

// UDP returns an IPv4 UDP datagram with a correct checksum.
func UDP(src, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	u := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], data)
	pseudo := make([]byte, 12+len(u))
	s, d := src.As4(), dst.As4()
	copy(pseudo[0:], s[:])
	copy(pseudo[4:], d[:])
	pseudo[9] = ProtoUDP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(u)))
	copy(pseudo[12:], u)
	c := Checksum(pseudo)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return IPv4(src, dst, ProtoUDP, sport, u)
}

// Frame wraps an IP packet in the link-layer header of lt (Ethernet, SLIP,
// raw, IPv4, IPv6, SLL, SLL2).
func Frame(lt layers.LinkType, ip []byte) []byte {
	et := uint16(0x0800)
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = 0x86dd
	}
	var h []byte
	switch lt {
	case layers.LinkTypeEthernet:
		h = make([]byte, 14)
		copy(h[0:], []byte{0x02, 0, 0, 0, 0, 2})
		copy(h[6:], []byte{0x02, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(h[12:], et)
	case 8: // SLIP
		h = make([]byte, 16)
		h[0] = 1 // sent
		h[1] = 0x40
	case 113: // SLL
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 4) // sent by us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], []byte{0x02, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(h[14:], et)
	case 276: // SLL2
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], et)
		binary.BigEndian.PutUint32(h[4:], 2) // interface index
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10] = 4                            // outgoing
		h[11] = 6
		copy(h[12:], []byte{0x02, 0, 0, 0, 0, 1})
	default: // raw IP link types
	}
	return append(h, ip...)
}

// Writer writes frames to a pcap or pcapng capture.
type Writer struct {
	pcap *pcapgo.Writer
	ng   *pcapgo.NgWriter
	t    time.Time
}

// NewWriter starts a capture of link type lt on w: pcapng when ng is true,
// else pcap with microsecond timestamps.
func NewWriter(w io.Writer, lt layers.LinkType, ng bool) (*Writer, error) {
	cw := &Writer{t: time.Unix(1700000000, 0)}
	if ng {
		nw, err := pcapgo.NewNgWriter(w, lt)
		if err != nil {
			return nil, err
		}
		cw.ng = nw
		return cw, nil
	}
	cw.pcap = pcapgo.NewWriter(w)
	if err := cw.pcap.WriteFileHeader(262144, lt); err != nil {
		return nil, err
	}
	return cw, nil
}

// Write appends one frame, 1 ms after the previous one.
func (w *Writer) Write(frame []byte) error {
	w.t = w.t.Add(time.Millisecond)
	ci := gopacket.CaptureInfo{Timestamp: w.t, CaptureLength: len(frame), Length: len(frame)}
	if w.ng != nil {
		return w.ng.WritePacket(ci, frame)
	}
	return w.pcap.WritePacket(ci, frame)
}

// Flush flushes buffered pcapng output (pcap output is unbuffered).
func (w *Writer) Flush() error {
	if w.ng != nil {
		return w.ng.Flush()
	}
	return nil
}
