package mssl_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/mssl"
)

// fakeLink is a device's IPv4 stack in memory: UDP to the device's port
// goes to an MSSL server, its answers come back as IPv4/UDP packets; a
// stray packet from elsewhere is queued too (the transport must ignore it).
type fakeLink struct {
	srv  *mssl.Server
	dev  netip.AddrPort
	mu   sync.Mutex
	pkts chan []byte
}

func (l *fakeLink) WritePacket(pkt []byte) error {
	d, err := ipv4.ParseUDP(pkt)
	if err != nil || netip.AddrPortFrom(d.IP.Dst, d.DstPort) != l.dev {
		return nil
	}
	from := netip.AddrPortFrom(d.IP.Src, d.SrcPort)
	stray := ipv4.Header{Src: netip.MustParseAddr("10.0.0.77"), Dst: d.IP.Src}
	if p, err := ipv4.AppendUDP(nil, &stray, mssl.Port, d.SrcPort, []byte{mssl.TypeAlert, 1}); err == nil {
		l.pkts <- p
	}
	for _, m := range l.srv.Handle(from, d.Payload) {
		h := ipv4.Header{Src: l.dev.Addr(), Dst: d.IP.Src}
		p, err := ipv4.AppendUDP(nil, &h, l.dev.Port(), d.SrcPort, m)
		if err != nil {
			return err
		}
		l.pkts <- p
	}
	return nil
}

func (l *fakeLink) ReadPacket(ctx context.Context) ([]byte, error) {
	select {
	case p := <-l.pkts:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (l *fakeLink) Stats() link.Stats { return link.Stats{} }
func (l *fakeLink) Close() error      { return nil }
func (l *fakeLink) String() string    { return "fake" }

// TestLink runs a session in IPv4/UDP packets over a pkg/link link (what
// SLIP on a serial line carries).
func TestLink(t *testing.T) {
	f := newFixture(t, 1024)
	l := &fakeLink{srv: f.srv, dev: deviceAddr, pkts: make(chan []byte, 64)}
	tr := mssl.NewLink(l, hostAddr, deviceAddr)
	runTasks(t, f, tr, f.grant, f.hk)
}
