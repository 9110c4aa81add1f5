package tunnel

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/mstool/mstool/pkg/ipv4"
)

// forward sends IPv4 from Local to Remote only, counts the rest, drops
// what the sender refuses and stops on other send errors.
func TestForward(t *testing.T) {
	local, remote := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	tn := &Tunnel{cfg: Config{Local: local, Remote: remote}}
	pkt := func(src, dst string) []byte {
		h := ipv4.Header{Protocol: ipv4.ProtoUDP, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}
		p, err := ipv4.AppendHeader(nil, &h, 8)
		if err != nil {
			t.Fatal(err)
		}
		return append(p, make([]byte, 8)...)
	}
	var sent int
	send := func([]byte) error { sent++; return nil }
	errRefused, errBroken := errors.New("refused"), errors.New("broken")
	refuse := func(err error) bool { return errors.Is(err, errRefused) }

	ipv6 := make([]byte, 40)
	ipv6[0] = 0x60
	for _, p := range [][]byte{pkt("10.0.0.1", "10.0.0.2"), pkt("10.0.0.3", "10.0.0.2"), pkt("10.0.0.1", "10.0.0.9"), ipv6, {0x45}} {
		if err := tn.forward(p, send, refuse); err != nil {
			t.Fatal(err)
		}
	}
	if err := tn.forward(pkt("10.0.0.1", "10.0.0.2"), func([]byte) error { return errRefused }, refuse); err != nil {
		t.Fatalf("a refused packet ended the tunnel: %v", err)
	}
	if err := tn.forward(pkt("10.0.0.1", "10.0.0.2"), func([]byte) error { return errBroken }, refuse); !errors.Is(err, errBroken) {
		t.Fatalf("a broken sender: %v, want it returned", err)
	}
	want := Counters{ToDevice: 1, NotIPv4: 2, OtherAddr: 2, SendFailed: 1}
	if got := tn.Counters(); got != want || sent != 1 {
		t.Errorf("counters %+v (sent %d), want %+v (sent 1)", got, sent, want)
	}
}
