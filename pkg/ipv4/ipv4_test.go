package ipv4

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	host = netip.MustParseAddr("192.0.2.1")
	dev  = netip.MustParseAddr("192.0.2.14")
)

// RFC 1071 §3's worked example: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to
// ddf2 (ones' complement), so the checksum is 220d.
func TestChecksumRFC1071(t *testing.T) {
	b, _ := hex.DecodeString("0001f203f4f5f6f7")
	if got := Checksum(b); got != 0x220d {
		t.Fatalf("Checksum = %04x, want 220d", got)
	}
	// An odd length pads with zero.
	if got, want := Checksum([]byte{0x01}), ^uint16(0x0100); got != want {
		t.Fatalf("odd: %04x, want %04x", got, want)
	}
}

// A header captured from the wild (Wikipedia's IPv4 checksum example):
// 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
func TestHeaderChecksumKnown(t *testing.T) {
	h := &Header{DF: true, TTL: 64, Protocol: ProtoUDP,
		Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.168.0.199")}
	b, err := AppendHeader(nil, h, 0x73-20)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("4500007300004000" + "4011b861c0a80001c0a800c7")
	if !bytes.Equal(b, want) {
		t.Fatalf("header\n got %x\nwant %x", b, want)
	}
}

// The builders agree with gopacket's independent implementation.
func TestAgainstGopacket(t *testing.T) {
	for _, n := range []int{0, 1, 7, 64, 1000} {
		data := bytes.Repeat([]byte{0xa5, 0x3c, 0xff}, n)[:n]
		h := &Header{ID: uint16(n), Src: host, Dst: dev}
		pkt, err := AppendUDP(nil, h, 40000, 7411, data)
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if udp == nil || ip == nil {
			t.Fatalf("n=%d: gopacket sees no IPv4/UDP: %v", n, p)
		}
		// Recompute with gopacket and compare byte for byte.
		buf := gopacket.NewSerializeBuffer()
		ip2 := *ip
		udp2 := *udp
		udp2.SetNetworkLayerForChecksum(&ip2)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, &ip2, &udp2, gopacket.Payload(data)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), pkt) {
			t.Fatalf("n=%d udp\n got %x\nwant %x", n, pkt, buf.Bytes())
		}

		pkt, err = AppendEcho(nil, h, ICMPEchoRequest, 0x1234, uint16(n), data)
		if err != nil {
			t.Fatal(err)
		}
		p = gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if icmp == nil {
			t.Fatalf("n=%d: no ICMP", n)
		}
		buf = gopacket.NewSerializeBuffer()
		ip3 := *p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp2 := *icmp
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, &ip3, &icmp2, gopacket.Payload(data)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), pkt) {
			t.Fatalf("n=%d icmp\n got %x\nwant %x", n, pkt, buf.Bytes())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	h := &Header{ID: 7, TTL: 3, Src: host, Dst: dev}
	pkt, err := AppendUDP([]byte("prefix"), h, 1, 2, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUDP(pkt[6:])
	if err != nil {
		t.Fatal(err)
	}
	if u.SrcPort != 1 || u.DstPort != 2 || string(u.Payload) != "hello" || u.IP.Src != host || u.IP.Dst != dev || u.IP.TTL != 3 || u.IP.ID != 7 {
		t.Fatalf("got %+v", u)
	}
	// Trailing link padding is ignored.
	if _, err := ParseUDP(append(pkt[6:], 0, 0, 0)); err != nil {
		t.Fatalf("padding: %v", err)
	}

	e, err := AppendEcho(nil, h, ICMPEchoReply, 9, 10, []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseEcho(e)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Reply || m.ID != 9 || m.Seq != 10 || string(m.Data) != "ping" {
		t.Fatalf("got %+v", m)
	}
	if _, err := ParseUDP(e); !errors.Is(err, ErrProtocol) {
		t.Fatalf("ICMP parsed as UDP: %v", err)
	}
	if _, err := AppendHeader(nil, &Header{Src: netip.MustParseAddr("::1"), Dst: dev}, 0); err == nil {
		t.Fatal("IPv6 source accepted")
	}
}

// Every single-bit flip of a UDP packet or an echo is caught, except flips
// that change nothing the checksums cover (none here) and ones that make
// the UDP checksum field zero, which means "no checksum".
func TestBitFlips(t *testing.T) {
	h := &Header{Src: host, Dst: dev}
	udp, _ := AppendUDP(nil, h, 4500, 4500, []byte("0123456789"))
	echo, _ := AppendEcho(nil, h, ICMPEchoRequest, 1, 2, []byte("0123456789"))
	for _, tc := range []struct {
		name  string
		pkt   []byte
		parse func([]byte) error
	}{
		{"udp", udp, func(b []byte) error { _, err := ParseUDP(b); return err }},
		{"echo", echo, func(b []byte) error { _, err := ParseEcho(b); return err }},
	} {
		for i := range len(tc.pkt) * 8 {
			b := bytes.Clone(tc.pkt)
			b[i/8] ^= 1 << (i % 8)
			if err := tc.parse(b); err == nil {
				if tc.name == "udp" && i/8 >= 26 && i/8 <= 27 {
					continue // UDP checksum field: only all-zero disables it; flips give a wrong one
				}
				t.Errorf("%s: flip of bit %d accepted", tc.name, i)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := AppendUDP(nil, &Header{Src: host, Dst: dev}, 1, 2, []byte("x"))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	fix := func(b []byte) []byte {
		b[10], b[11] = 0, 0
		c := Checksum(b[:(int(b[0])&15)*4])
		b[10], b[11] = byte(c>>8), byte(c)
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short", good[:19], ErrMalformed},
		{"version 6", mut(func(b []byte) []byte { b[0] = 0x65; return fix(b) }), ErrMalformed},
		{"ihl 4", mut(func(b []byte) []byte { b[0] = 0x44; return b }), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"total too small", mut(func(b []byte) []byte { b[3] = 10; return fix(b) }), ErrMalformed},
		{"checksum", mut(func(b []byte) []byte { b[8]++; return b }), ErrChecksum},
		{"more fragments", mut(func(b []byte) []byte { b[6] |= 0x20; return fix(b) }), ErrFragment},
		{"offset", mut(func(b []byte) []byte { b[7] = 1; return fix(b) }), ErrFragment},
		{"options", func() []byte {
			b := append(bytes.Clone(good[:20]), 1, 1, 1, 0)
			b = append(b, good[20:]...)
			b[0] = 0x46
			b[3] += 4
			return fix(b)
		}(), ErrOptions},
		{"udp length", mut(func(b []byte) []byte { b[25]++; return b }), ErrMalformed},
	} {
		_, err := ParseUDP(tc.pkt)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	h := &Header{Src: host, Dst: dev}
	udp, _ := AppendUDP(nil, h, 4500, 7411, []byte("seed"))
	echo, _ := AppendEcho(nil, h, ICMPEchoRequest, 1, 2, []byte("seed"))
	f.Add(udp)
	f.Add(echo)
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		if fl, err := ReadFields(b); err == nil {
			if fl.HeaderLen > len(b) {
				t.Fatalf("header length %d of %d bytes", fl.HeaderLen, len(b))
			}
			fl.Payload(b) // never panics
		}
		hdr, payload, err := Parse(b)
		if err != nil {
			return
		}
		if len(payload) > len(b)-HeaderLen {
			t.Fatalf("payload %d from %d bytes", len(payload), len(b))
		}
		// What parses re-encodes to the same header (TTL 0 is built as the
		// default TTL, so TTL is left out).
		again, err := AppendHeader(nil, &hdr, len(payload))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again[:offFlagsFrag], b[:offFlagsFrag]) || again[offProto] != b[offProto] || !bytes.Equal(again[offSrc:HeaderLen], b[offSrc:HeaderLen]) {
			t.Fatalf("re-encoded header %x differs from %x", again, b[:HeaderLen])
		}
		if u, err := ParseUDP(b); err == nil {
			re, err := AppendUDP(nil, &hdr, u.SrcPort, u.DstPort, u.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseUDP(re); err != nil {
				t.Fatalf("rebuilt UDP does not parse: %v", err)
			}
		}
		if e, err := ParseEcho(b); err == nil {
			re, _ := AppendEcho(nil, &hdr, e.Type, e.ID, e.Seq, e.Data)
			if _, err := ParseEcho(re); err != nil {
				t.Fatalf("rebuilt echo does not parse: %v", err)
			}
		}
	})
}

// ReadFields is the lenient reading ESP and captures use: options allowed,
// checksum and total length not checked, and it does not allocate.
func TestReadFields(t *testing.T) {
	pkt, err := AppendUDP(nil, &Header{ID: 9, DF: true, TOS: 0x10, Src: host, Dst: dev}, 4500, 4500, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFields(pkt)
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{HeaderLen: HeaderLen, TotalLen: len(pkt), FlagsFrag: flagDF, TOS: 0x10, Protocol: ProtoUDP, Src: host, Dst: dev}
	if f != want || !f.DF() || f.Fragment() {
		t.Fatalf("ReadFields = %+v, want %+v", f, want)
	}
	if p, ok := f.Payload(append(pkt, 0, 0)); !ok || len(p) != len(pkt)-HeaderLen {
		t.Fatalf("Payload with link padding: %d bytes, %v", len(p), ok)
	}

	// A header with 4 bytes of options (IHL 6): read, with its length;
	// SetTotalLen keeps its checksum right over the options.
	opt := append(append(append([]byte(nil), pkt[:HeaderLen]...), 1, 1, 1, 0), pkt[HeaderLen:]...)
	opt[offVersionIHL] = 0x46
	SetTotalLen(opt, 24, len(opt))
	if Checksum(opt[:24]) != 0 {
		t.Fatal("SetTotalLen: bad checksum over options")
	}
	if f, err := ReadFields(opt); err != nil || f.HeaderLen != 24 || f.TotalLen != len(opt) {
		t.Fatalf("with options: %+v, %v", f, err)
	}
	if _, _, err := Parse(opt); !errors.Is(err, ErrOptions) {
		t.Fatalf("Parse with options: %v, want ErrOptions", err)
	}

	// Fragments are read and reported, not refused.
	frag := bytes.Clone(pkt)
	frag[offFlagsFrag] |= flagMF >> 8
	if f, err := ReadFields(frag); err != nil || !f.Fragment() || f.FragmentOffset() != 0 {
		t.Fatalf("MF: %+v, %v", f, err)
	}
	// A total length beyond the buffer: read, but no payload.
	long := bytes.Clone(pkt)
	SetTotalLen(long, HeaderLen, len(pkt)+1)
	if f, err := ReadFields(long); err != nil {
		t.Fatal(err)
	} else if _, ok := f.Payload(long); ok {
		t.Fatal("Payload beyond the buffer")
	}

	for name, b := range map[string][]byte{
		"short":        pkt[:HeaderLen-1],
		"IPv6":         append([]byte{0x60}, pkt[1:]...),
		"IHL 4":        append([]byte{0x44}, pkt[1:]...),
		"IHL past end": append([]byte{0x4f}, pkt[1:HeaderLen+4]...),
	} {
		if _, err := ReadFields(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ReadFields(pkt) }); n != 0 {
		t.Errorf("ReadFields allocates %v times", n)
	}
}

// PutHeader and SetTotalLen build what AppendHeader builds.
func TestPutHeader(t *testing.T) {
	h := &Header{TOS: 3, ID: 0x1234, DF: true, TTL: 17, Protocol: ProtoESP, Src: host, Dst: dev}
	want, err := AppendHeader(nil, h, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Repeat([]byte{0xff}, HeaderLen) // PutHeader writes every byte but length and checksum
	PutHeader(got, h)
	SetTotalLen(got, HeaderLen, HeaderLen+100)
	if !bytes.Equal(got, want) {
		t.Fatalf("PutHeader+SetTotalLen %x, AppendHeader %x", got, want)
	}
}
