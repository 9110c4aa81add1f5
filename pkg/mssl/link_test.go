package mssl_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/grant"
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

// TestDialSerialClock: over a *SerialTransport, Dial scales its wait for
// the device's RSA verification with the clock IDENTIFY reported, as
// mstool does: a library user gets the same wait.
func TestDialSerialClock(t *testing.T) {
	f := newFixture(t, 2048)
	for _, c := range []struct {
		info *device.Info
		want string
	}{
		{nil, "about 1.0 s"},                         // no answer: 16 MHz
		{&device.Info{FCPU: 8000000}, "about 2.0 s"}, // an 8 MHz board
	} {
		f.reset()
		l := &fakeLink{srv: f.srv, dev: deviceAddr, pkts: make(chan []byte, 64)}
		tr := &mssl.SerialTransport{Link: mssl.NewLink(l, hostAddr, deviceAddr), Info: c.info}
		var progress []string
		s, err := mssl.Dial(context.Background(), mssl.Config{Grant: f.grant, HostKey: f.hk, Transport: tr,
			Progress: func(m string) { progress = append(progress, m) }})
		if err != nil {
			t.Fatal(err)
		}
		s.Close(context.Background())
		if len(progress) != 1 || !strings.Contains(progress[0], c.want) {
			t.Errorf("FCPU from %+v: progress %q, want %q", c.info, progress, c.want)
		}
	}
}

func TestOpenTransportSerialAddresses(t *testing.T) {
	ctx := context.Background()
	// (No device address: the device is asked for it, TestMSSLSimNoAnswerDiagnosis.)
	if _, err := mssl.OpenTransport(ctx, mssl.TransportConfig{Port: "/dev/null", Device: netip.MustParseAddr("::1")}); err == nil || !strings.Contains(err.Error(), "device's address is an IPv4 address") {
		t.Errorf("an IPv6 device address: %v", err)
	}
	cfg := mssl.TransportConfig{Port: "/dev/null", Device: deviceAddr.Addr(), Grant: &grant.Grant{}}
	if _, err := mssl.OpenTransport(ctx, cfg); err == nil || !strings.Contains(err.Error(), "this host's IPv4 address") {
		t.Errorf("no host address: %v", err)
	}
	if p := mssl.LocalPort(); p < 49152 {
		t.Errorf("LocalPort() = %d, want a dynamic port", p)
	}
}
