package mssl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
)

// Transport carries whole MSSL messages between the host and the device.
type Transport interface {
	// Send sends one message.
	Send(msg []byte) error
	// Recv returns the next message, waiting until one arrives, ctx is
	// done or the transport is closed.
	Recv(ctx context.Context) ([]byte, error)
	Close() error
}

// ErrClosed: the transport or session was closed.
var ErrClosed = errors.New("mssl: closed")

// msgQueue hands received messages from a reader goroutine to Recv.
type msgQueue struct {
	ch   chan []byte
	done chan struct{}
	once sync.Once
	err  error
}

func newQueue() *msgQueue { return &msgQueue{ch: make(chan []byte, 64), done: make(chan struct{})} }

func (q *msgQueue) put(m []byte) {
	select {
	case q.ch <- m:
	default: // full: drop, as a device drops
	}
}

func (q *msgQueue) stop(err error) {
	q.once.Do(func() { q.err = err; close(q.done) })
}

func (q *msgQueue) recv(ctx context.Context) ([]byte, error) {
	select {
	case m := <-q.ch:
		return m, nil
	default:
	}
	select {
	case m := <-q.ch:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.done:
		if q.err != nil {
			return nil, q.err
		}
		return nil, ErrClosed
	}
}

// Stream frames messages on a byte stream (TCP, a serial line without IP,
// a pipe): each message is preceded by its length, 2 bytes big-endian.
type Stream struct {
	rw  io.ReadWriteCloser
	wmu sync.Mutex
	q   *msgQueue
}

// NewStream starts reading messages from rw.
func NewStream(rw io.ReadWriteCloser) *Stream {
	s := &Stream{rw: rw, q: newQueue()}
	go func() {
		for {
			m, err := ReadFrame(rw)
			if err != nil {
				s.q.stop(nil)
				return
			}
			s.q.put(m)
		}
	}()
	return s
}

// ReadFrame reads one length-prefixed message. A length above 65535 cannot
// occur; lengths above MaxMessage are read and returned (the server
// answers them with record_overflow).
func ReadFrame(r io.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	m := make([]byte, binary.BigEndian.Uint16(h[:]))
	if _, err := io.ReadFull(r, m); err != nil {
		return nil, err
	}
	return m, nil
}

// WriteFrame writes one length-prefixed message.
func WriteFrame(w io.Writer, m []byte) error {
	if len(m) > 0xffff {
		return fmt.Errorf("mssl: message of %d bytes is too long for a stream frame", len(m))
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(m)), uint16(len(m)))
	_, err := w.Write(append(b, m...))
	return err
}

// Send writes one message.
func (s *Stream) Send(m []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := WriteFrame(s.rw, m); err != nil {
		return fmt.Errorf("mssl: %w", err)
	}
	return nil
}

// Recv returns the next message.
func (s *Stream) Recv(ctx context.Context) ([]byte, error) { return s.q.recv(ctx) }

// Close closes the stream.
func (s *Stream) Close() error { s.q.stop(nil); return s.rw.Close() }

// Packet carries one message per datagram on a connected UDP socket.
type Packet struct {
	c net.Conn
	q *msgQueue
}

// DialUDP connects a UDP socket to addr ("host:port", port normally Port).
func DialUDP(addr string) (*Packet, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("mssl: %w", err)
	}
	return NewPacket(c), nil
}

// NewPacket starts reading datagrams from c.
func NewPacket(c net.Conn) *Packet {
	p := &Packet{c: c, q: newQueue()}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
					select {
					case <-p.q.done:
						return
					default:
						continue // ICMP port unreachable and the like
					}
				}
				p.q.stop(nil)
				return
			}
			p.q.put(append([]byte(nil), buf[:n]...))
		}
	}()
	return p
}

// Send sends one datagram.
func (p *Packet) Send(m []byte) error {
	if _, err := p.c.Write(m); err != nil {
		return fmt.Errorf("mssl: %w", err)
	}
	return nil
}

// Recv returns the next datagram.
func (p *Packet) Recv(ctx context.Context) ([]byte, error) { return p.q.recv(ctx) }

// Close closes the socket.
func (p *Packet) Close() error { p.q.stop(nil); return p.c.Close() }

// Link carries MSSL in IPv4/UDP packets over a pkg/link link (SLIP on a
// serial line): the host builds and parses the IPv4 and UDP headers
// itself. Received packets that are not UDP from Remote to Local are
// ignored.
type Link struct {
	l             link.Link
	local, remote netip.AddrPort
	q             *msgQueue
	cancel        context.CancelFunc
	id            uint16
	wmu           sync.Mutex
	ignored       atomic.Uint64
}

// NewLink starts MSSL on l between local (the host) and remote (the
// device, port normally Port). It reads l's packets until Close.
func NewLink(l link.Link, local, remote netip.AddrPort) *Link {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Link{l: l, local: local, remote: remote, q: newQueue(), cancel: cancel}
	go func() {
		for {
			pkt, err := l.ReadPacket(ctx)
			if err != nil {
				t.q.stop(err)
				return
			}
			d, err := ipv4.ParseUDP(pkt)
			if err != nil || netip.AddrPortFrom(d.IP.Src, d.SrcPort) != remote || netip.AddrPortFrom(d.IP.Dst, d.DstPort) != local {
				t.ignored.Add(1)
				continue
			}
			t.q.put(append([]byte(nil), d.Payload...))
		}
	}()
	return t
}

// Send sends one message in an IPv4/UDP packet.
func (t *Link) Send(m []byte) error {
	t.wmu.Lock()
	t.id++
	h := ipv4.Header{ID: t.id, Src: t.local.Addr(), Dst: t.remote.Addr()}
	t.wmu.Unlock()
	pkt, err := ipv4.AppendUDP(nil, &h, t.local.Port(), t.remote.Port(), m)
	if err != nil {
		return fmt.Errorf("mssl: %w", err)
	}
	return t.l.WritePacket(pkt)
}

// Remote returns the device's address and port the link sends to.
func (t *Link) Remote() netip.AddrPort { return t.remote }

// Recv returns the next message from the device.
func (t *Link) Recv(ctx context.Context) ([]byte, error) { return t.q.recv(ctx) }

// Close stops reading; the link itself stays open (its owner closes it).
func (t *Link) Close() error { t.cancel(); t.q.stop(nil); return nil }
