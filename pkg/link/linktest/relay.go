package linktest

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/safile"
)

// Relay is a stand-in for a networked device's IP stack: it receives
// ESP-in-UDP datagrams on a local UDP socket and carries them to a device
// on a packet link (normally a serial SLIP link) as IPv4/UDP packets
// between the SA's addresses and ports; UDP packets from the device go
// back to the last sender. The device's firmware thus answers
// ESP-in-UDP (RFC 3948) exactly as a networked device would.
type Relay struct {
	pc   net.PacketConn
	l    link.Link
	ends link.Endpoints
	mu   sync.Mutex
	peer net.Addr
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewRelay starts relaying between a UDP socket on 127.0.0.1 and l. ends
// are the SA's addresses: Local the host, Remote the device.
func NewRelay(l link.Link, ends link.Endpoints) (*Relay, error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{pc: pc, l: l, ends: ends, stop: cancel}
	r.wg.Add(2)
	go r.up()
	go r.down(ctx)
	return r, nil
}

// String is the relay's address, for link.DialUDP.
func (r *Relay) String() string { return r.pc.LocalAddr().String() }

// Close stops the relay (not the link).
func (r *Relay) Close() error {
	r.stop()
	err := r.pc.Close()
	r.wg.Wait()
	return err
}

func (r *Relay) up() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	var id uint16
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.peer = from
		r.mu.Unlock()
		id++
		h := &ipv4.Header{ID: id, Src: r.ends.Local.Addr(), Dst: r.ends.Remote.Addr()}
		pkt, err := ipv4.AppendUDP(nil, h, r.ends.Local.Port(), r.ends.Remote.Port(), buf[:n])
		if err == nil {
			r.l.WritePacket(pkt)
		}
	}
}

func (r *Relay) down(ctx context.Context) {
	defer r.wg.Done()
	for {
		pkt, err := r.l.ReadPacket(ctx)
		if err != nil {
			return
		}
		u, err := ipv4.ParseUDP(pkt)
		if err != nil || u.SrcPort != r.ends.Remote.Port() {
			continue
		}
		r.mu.Lock()
		peer := r.peer
		r.mu.Unlock()
		if peer != nil {
			r.pc.WriteTo(u.Payload, peer)
		}
	}
}

// StartUDPRelay runs a fake device (Serve) behind a Relay for the SA file
// sas (which must use UDP encapsulation) and stops both when t ends.
func StartUDPRelay(t testing.TB, sas *safile.File) *Relay {
	t.Helper()
	hostEnd, devEnd := Pipe()
	if _, err := Serve(devEnd, Config{SAs: sas}); err != nil {
		t.Fatal(err)
	}
	l := link.NewSerial(hostEnd, "pipe", nil)
	out := sas.Outbound[0]
	ends := link.Endpoints{Local: netip.AddrPortFrom(out.Src, out.Encap.SrcPort), Remote: netip.AddrPortFrom(out.Dst, out.Encap.DstPort)}
	r, err := NewRelay(l, ends)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		l.Close()
		devEnd.Close()
	})
	return r
}
