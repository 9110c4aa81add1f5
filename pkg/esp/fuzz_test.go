package esp

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzSAs are fixed SAs, one per suite and mode, for the fuzz targets: the
// seeds are packets sealed under them, so mutations reach every layer.
func fuzzSAs() []*SA {
	var sas []*SA
	for _, suite := range Suites {
		for _, mode := range []Mode{Transport, Tunnel} {
			sa := &SA{
				SPI:     0x100 + uint32(suite),
				Suite:   suite,
				EncKey:  bytes.Repeat([]byte{byte(suite)}, suite.EncKeyLen()),
				AuthKey: bytes.Repeat([]byte{0xa0 + byte(suite)}, suite.AuthKeyLen()),
				Mode:    mode,
				ESN:     mode == Tunnel,
			}
			sa.Src, sa.Dst = testAddrs()
			sas = append(sas, sa)
		}
	}
	return sas
}

func FuzzOpenPacket(f *testing.F) {
	sas := fuzzSAs()
	for i, sa := range sas {
		if i%2 == 0 {
			sa.Encap = &UDPEncap{SrcPort: 4500, DstPort: 4500}
		}
		out, err := NewOutbound(sa)
		if err != nil {
			f.Fatal(err)
		}
		for _, n := range []int{0, 17} {
			p, err := out.SealPacket(nil, udp4(n, n > 0))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(p)
		}
		p, _ := out.SealPacket(nil, udp6(5, true))
		f.Add(p)
		sa.Encap = nil
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		orig := bytes.Clone(pkt)
		if h, err := ParsePacket(pkt); err == nil {
			if h.Offset+h.Length > len(pkt) || h.Length < espHeaderLen {
				t.Fatalf("ParsePacket: bad bounds %+v", h)
			}
		} else if !errors.Is(err, ErrNotESP) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParsePacket: unexpected error %v", err)
		}
		for _, sa := range sas {
			in, err := NewInbound(sa)
			if err != nil {
				t.Fatal(err)
			}
			got, err := in.OpenPacket(make([]byte, 0, 8), pkt)
			if err != nil {
				if got != nil {
					t.Fatal("output with error")
				}
				continue
			}
			if len(got) > len(pkt) {
				t.Fatalf("inner packet longer than the packet")
			}
			// What authenticated must open the same way without the window,
			// and then be a replay.
			in2, _ := NewInbound(sa)
			got2, seq, err := in2.OpenPacketNoReplay(nil, pkt)
			if err != nil || !bytes.Equal(got, got2) {
				t.Fatalf("OpenPacketNoReplay disagrees: %v", err)
			}
			if err := in.CheckAndUpdateReplay(seq); !errors.Is(err, ErrReplay) {
				t.Fatalf("opened packet is not marked as seen: %v", err)
			}
		}
		if !bytes.Equal(pkt, orig) {
			t.Fatal("input modified")
		}
	})
}

func FuzzClassifyUDP(f *testing.F) {
	for _, s := range [][]byte{nil, {0xff}, {0, 0, 0, 0, 1}, {0, 0, 1, 0, 0, 0, 0, 1}, {1, 2, 3}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		k := ClassifyUDP(payload)
		switch k {
		case UDPKeepalive:
			if !bytes.Equal(payload, []byte{0xff}) {
				t.Fatalf("keepalive %x", payload)
			}
		case UDPNonESP:
			if len(payload) < 4 || !bytes.Equal(payload[:4], []byte{0, 0, 0, 0}) {
				t.Fatalf("non-ESP %x", payload)
			}
		case UDPESP:
			if len(payload) < 8 || bytes.Equal(payload[:4], []byte{0, 0, 0, 0}) {
				t.Fatalf("ESP %x", payload)
			}
		case UDPInvalid:
			if len(payload) >= 8 || bytes.Equal(payload, []byte{0xff}) {
				t.Fatalf("invalid %x", payload)
			}
		default:
			t.Fatalf("kind %d", k)
		}
		// The same payload in a UDP/4500 datagram: ParsePacket agrees.
		src, dst := testAddrs()
		var pkt []byte
		var err error
		if k == UDPNonESP {
			pkt, err = AppendNonESP(nil, addrPort(src, 4500), addrPort(dst, 4500), payload[4:])
		} else {
			pkt, err = appendUDP(nil, addrPort(src, 4500), addrPort(dst, 4500), nil, payload)
		}
		if err != nil {
			if len(payload) < 0xffff-28 {
				t.Fatal(err)
			}
			return
		}
		h, err := ParsePacket(pkt)
		if (k == UDPESP) != (err == nil) {
			t.Fatalf("kind %v but ParsePacket: %v", k, err)
		}
		if err == nil && (h.Offset != 28 || !h.Encap || h.Length != len(payload)) {
			t.Fatalf("header %+v", h)
		}
	})
}
