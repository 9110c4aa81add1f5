package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mstool/mstool/pkg/ipv4"
)

// UDP is an ESP-in-UDP (RFC 3948) link to a networked device: the host
// talks to the device's UDP port (normally 4500) through an ordinary UDP
// socket, so no privileges are needed.
//
// The layer above works with whole IPv4 packets between the SA's
// addresses (Endpoints): WritePacket sends the UDP payload of the packet
// it is given (which must be UDP), and ReadPacket returns each received
// datagram rebuilt as an IPv4/UDP packet from Endpoints.Remote to
// Endpoints.Local, which is also what the recording shows.
type UDP struct {
	conn  *net.UDPConn
	ends  Endpoints
	name  string
	rec   *Recorder
	h     hooks
	pkts  chan []byte
	done  chan struct{}
	once  sync.Once
	id    atomic.Uint32
	stats struct{ sent, recv, dropped atomic.Uint64 }
}

// Endpoints are the addresses and ports of the ESP-in-UDP packets as the
// SAs see them: the host (Local) and the device (Remote).
type Endpoints struct {
	Local, Remote netip.AddrPort
}

// DialUDP opens a UDP socket to addr ("host:port") and starts the link.
func DialUDP(addr string, ends Endpoints, opts *Options) (*UDP, error) {
	if !ends.Local.Addr().Is4() || !ends.Remote.Addr().Is4() {
		return nil, errors.New("link: udp: the SA addresses must be IPv4")
	}
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("link: udp: %w", err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		return nil, fmt.Errorf("link: udp: %w", err)
	}
	u := &UDP{conn: c, ends: ends, name: "udp " + addr, h: newHooks(opts), pkts: make(chan []byte, queueLen), done: make(chan struct{})}
	if opts != nil {
		u.rec = opts.Recorder
	}
	u.h.logf("%s: socket open, local %s, to %s (ESP in UDP between %s and %s)", u.name, c.LocalAddr(), ra, ends.Local, ends.Remote)
	go u.readLoop()
	return u, nil
}

func (u *UDP) String() string { return u.name }

func (u *UDP) readLoop() {
	buf := make([]byte, 65536)
	for {
		n, err := u.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && !ne.Timeout() && !errors.Is(err, net.ErrClosed) {
				// ICMP port unreachable and the like: keep listening.
				u.h.logf("%s: %v (an ICMP error: nothing listens there?)", u.name, err)
				select {
				case <-u.done:
					return
				default:
					continue
				}
			}
			u.once.Do(func() { close(u.done) })
			return
		}
		u.h.tracef("recv", buf[:n])
		h := ipv4.Header{ID: uint16(u.id.Add(1)), Src: u.ends.Remote.Addr(), Dst: u.ends.Local.Addr()}
		p, err := ipv4.AppendUDP(nil, &h, u.ends.Remote.Port(), u.ends.Local.Port(), buf[:n])
		if err != nil {
			u.stats.dropped.Add(1)
			u.h.logf("%s: dropped a datagram of %d bytes: %v", u.name, n, err)
			continue
		}
		u.stats.recv.Add(1)
		if u.rec != nil {
			u.rec.Record(p)
		}
		if offer(u.pkts, p, &u.stats.dropped) {
			u.h.logf("%s: receive queue full: dropped the oldest packet", u.name)
		}
	}
}

// WritePacket sends the UDP payload of pkt, an IPv4/UDP packet.
func (u *UDP) WritePacket(pkt []byte) error {
	d, err := ipv4.ParseUDP(pkt)
	if err != nil {
		return fmt.Errorf("link: udp: only UDP packets travel on this link: %w", err)
	}
	u.h.tracef("send", d.Payload)
	if _, err := u.conn.Write(d.Payload); err != nil {
		return fmt.Errorf("link: %s: %w", u.name, err)
	}
	u.stats.sent.Add(1)
	if u.rec != nil {
		u.rec.Record(pkt)
	}
	return nil
}

// ReadPacket returns the next received datagram as an IPv4/UDP packet.
func (u *UDP) ReadPacket(ctx context.Context) ([]byte, error) {
	select {
	case p := <-u.pkts:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-u.done:
		return nil, ErrClosed
	}
}

// Stats returns the link's counters.
func (u *UDP) Stats() Stats {
	return Stats{PacketsSent: u.stats.sent.Load(), PacketsReceived: u.stats.recv.Load(), Dropped: u.stats.dropped.Load()}
}

// Close closes the socket.
func (u *UDP) Close() error {
	u.once.Do(func() { close(u.done) })
	return u.conn.Close()
}
