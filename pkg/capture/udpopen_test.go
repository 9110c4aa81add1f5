package capture

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mstool/mstool/pkg/ipv4"
)

// halfOpener "decrypts" UDP payloads to port 7412 by keeping their first
// half; payloads starting with 0xff fail.
type halfOpener struct{ seen int }

func (h *halfOpener) OpenUDP(dst []byte, src, to netip.AddrPort, p []byte) ([]byte, Result) {
	h.seen++
	if to.Port() != 7412 {
		return dst, Other
	}
	if len(p) > 0 && p[0] == 0xff {
		return dst, MSSLFailed
	}
	return append(dst, p[:len(p)/2]...), MSSLDecrypted
}

// TestUDPOpener: the opener's plaintext replaces the UDP payload, with
// the IPv4 and UDP lengths and the IPv4 checksum fixed, on Ethernet.
func TestUDPOpener(t *testing.T) {
	var in bytes.Buffer
	w := pcapgo.NewWriter(&in)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	eth := make([]byte, 14)
	eth[12], eth[13] = 0x08, 0x00
	mk := func(dport uint16, payload []byte) {
		h := ipv4.Header{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("10.0.0.1")}
		p, err := ipv4.AppendUDP(bytes.Clone(eth), &h, 40000, dport, payload)
		if err != nil {
			t.Fatal(err)
		}
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(p), Length: len(p)}, p)
	}
	mk(7412, []byte("abcdefgh"))
	mk(7412, []byte{0xff, 1, 2, 3})
	mk(53, []byte("query"))
	var out bytes.Buffer
	op := &halfOpener{}
	st, err := DecryptCapture(context.Background(), &in, &out, nil, Options{MSSL: op, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.MSSLDecrypted != 1 || st.MSSLFailed != 1 || st.Other != 1 || st.Packets != 3 || op.seen != 3 {
		t.Fatalf("stats %+v, opener saw %d", st, op.seen)
	}
	r, err := pcapgo.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ipv4.ParseUDP(data[14:])
	if err != nil {
		t.Fatalf("rewritten packet does not parse: %v", err)
	}
	if string(d.Payload) != "abcd" || d.DstPort != 7412 {
		t.Fatalf("payload %q", d.Payload)
	}
	if ipv4.Checksum(data[14:34]) != 0 {
		t.Fatal("IPv4 header checksum wrong")
	}
}
