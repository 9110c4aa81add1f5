package link

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/slip"
)

// MaxFrame is the largest SLIP frame the host accepts from a device (the
// devices' own limits are far lower: 296 bytes on the ATmega328P).
const MaxFrame = 2048

// Options tune a link. The zero value is usable.
type Options struct {
	// Recorder, when set, receives every IPv4 packet the link carries.
	Recorder *Recorder
	// Reset says whether opening a serial port may reset the board
	// (OpenSerial only; NewSerial never waits): device.ResetAuto, the
	// default, waits until the device answers on its management channel
	// before the link carries packets; device.ResetNever starts at once.
	Reset device.Reset
	// ReadyWait bounds that wait (default device.DefaultReadyWait).
	ReadyWait time.Duration
	// Log, when set, is told of the link's events, one line each (port
	// opened, the readiness probes, frames dropped, ICMP errors on UDP):
	// mstool -v. The package never prints.
	Log func(msg string)
	// Trace, when set, is given every packet the link sends ("send") and
	// receives ("recv") as it is on the wire: the IPv4 packet of a SLIP
	// frame on a serial port, the UDP payload (the ESP packet) on UDP;
	// over a serial port also the management frames of the readiness
	// wait: mstool -vv.
	Trace func(dir string, pkt []byte)
}

// hooks are the Log and Trace of Options, safe to call when unset.
type hooks struct {
	log   func(string)
	trace func(string, []byte)
}

func newHooks(o *Options) hooks {
	if o == nil {
		return hooks{}
	}
	return hooks{o.Log, o.Trace}
}

func (h hooks) logf(format string, a ...any) {
	if h.log != nil {
		h.log(fmt.Sprintf(format, a...))
	}
}

func (h hooks) tracef(dir string, p []byte) {
	if h.trace != nil {
		h.trace(dir, p)
	}
}

// Serial is a SLIP link on a serial port, shared with the management
// channel.
type Serial struct {
	conn  device.Conn
	name  string
	rec   *Recorder
	h     hooks
	wmu   sync.Mutex // one frame at a time on the line
	pkts  chan []byte
	mgmt  *mgmtConn
	done  chan struct{}
	once  sync.Once
	rerr  atomic.Pointer[error]
	stats struct{ sent, recv, mgmt, dropped atomic.Uint64 }
}

// OpenSerial opens the serial port at path (115200 8N1, no flow control)
// and starts the link. The port is locked against other mstool processes
// (see device.OpenPort): a second opener gets ErrPortBusy.
//
// Unless opts.Reset is device.ResetNever, OpenSerial then waits until the
// device answers IDENTIFY on the management channel (device.WaitReady),
// for at most opts.ReadyWait: opening the port may have reset the board
// into its bootloader, which would lose the first packets. If nothing
// answers, it closes the port and returns an error wrapping
// device.ErrNoAnswer.
func OpenSerial(path string, opts *Options) (*Serial, error) {
	p, err := device.OpenPort(path)
	if err != nil {
		return nil, err
	}
	s := NewSerial(p, "serial "+path, opts)
	s.h.logf("%s: port opened (%d 8N1)", s.name, device.Baud)
	if opts != nil && opts.Reset == device.ResetNever {
		s.h.logf("%s: reset mode never: not waiting for the device", s.name)
		return s, nil
	}
	var wait time.Duration
	if opts != nil {
		wait = opts.ReadyWait
	}
	d, err := device.New(s.Management(), &device.Options{Reset: device.ResetNever, Log: s.h.log, Trace: s.h.trace})
	if err == nil {
		err = d.WaitReady(context.Background(), wait)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("link: %s: %w", s.name, err)
	}
	return s, nil
}

// NewSerial starts a link on an open byte connection (a serial port, or
// one end of a pipe in tests). name is used in messages.
func NewSerial(c device.Conn, name string, opts *Options) *Serial {
	s := &Serial{conn: c, name: name, h: newHooks(opts), pkts: make(chan []byte, queueLen), done: make(chan struct{})}
	if opts != nil {
		s.rec = opts.Recorder
	}
	s.mgmt = &mgmtConn{s: s, frames: make(chan []byte, 16), timeout: 50 * time.Millisecond}
	_ = c.SetReadTimeout(50 * time.Millisecond)
	_ = c.ResetInputBuffer()
	go s.readLoop()
	return s
}

func (s *Serial) String() string { return s.name }

func (s *Serial) readLoop() {
	dec := slip.NewDecoder(MaxFrame)
	buf := make([]byte, 4096)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			dec.Feed(buf[:n], s.dispatch)
		}
		if err != nil {
			s.fail(err)
			return
		}
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// dispatch routes one received frame on its first byte.
func (s *Serial) dispatch(f []byte) {
	switch {
	case f[0] == 0x00:
		s.stats.mgmt.Add(1)
		offer(s.mgmt.frames, append([]byte(nil), f...), &s.stats.dropped)
	case f[0] >= 0x45 && f[0] <= 0x4f:
		p := append([]byte(nil), f...)
		s.stats.recv.Add(1)
		s.h.tracef("recv", p)
		if s.rec != nil {
			s.rec.Record(p)
		}
		if offer(s.pkts, p, &s.stats.dropped) {
			s.h.logf("%s: receive queue full: dropped the oldest packet", s.name)
		}
	default:
		s.stats.dropped.Add(1)
		s.h.logf("%s: dropped a frame of %d bytes: neither IPv4 nor management (first byte 0x%02x)", s.name, len(f), f[0])
	}
}

// offer queues v, dropping the oldest entry when the queue is full, and
// reports whether it dropped one.
func offer(ch chan []byte, v []byte, dropped *atomic.Uint64) (lost bool) {
	for {
		select {
		case ch <- v:
			return lost
		default:
		}
		select {
		case <-ch:
			dropped.Add(1)
			lost = true
		default:
		}
	}
}

func (s *Serial) fail(err error) {
	select {
	case <-s.done:
		// Closed by us: the port's error is the close.
	default:
		e := fmt.Errorf("link: %s: %w (%v)", s.name, ErrClosed, err)
		s.rerr.Store(&e)
		s.h.logf("%s: the port failed: %v", s.name, err)
	}
	s.once.Do(func() { close(s.done) })
}

func (s *Serial) err() error {
	if e := s.rerr.Load(); e != nil {
		return *e
	}
	return ErrClosed
}

// WritePacket sends one IPv4 packet as a SLIP frame.
func (s *Serial) WritePacket(pkt []byte) error {
	if len(pkt) > MaxFrame {
		return fmt.Errorf("%w (%d bytes)", ErrTooLarge, len(pkt))
	}
	s.h.tracef("send", pkt)
	if err := s.writeFrame(pkt); err != nil {
		return err
	}
	s.stats.sent.Add(1)
	if s.rec != nil {
		s.rec.Record(pkt)
	}
	return nil
}

// WriteRaw writes bytes to the line as they are, without framing (tests
// use it for garbage and storms).
func (s *Serial) WriteRaw(p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-s.done:
		return s.err()
	default:
	}
	if _, err := s.conn.Write(p); err != nil {
		return fmt.Errorf("link: %s: write: %w", s.name, err)
	}
	return nil
}

func (s *Serial) writeFrame(f []byte) error {
	return s.WriteRaw(slip.Encode(f))
}

// ReadPacket returns the next IPv4 packet from the device.
func (s *Serial) ReadPacket(ctx context.Context) ([]byte, error) {
	select {
	case p := <-s.pkts:
		return p, nil
	default:
	}
	select {
	case p := <-s.pkts:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, s.err()
	}
}

// Stats returns the link's counters.
func (s *Serial) Stats() Stats {
	return Stats{PacketsSent: s.stats.sent.Load(), PacketsReceived: s.stats.recv.Load(),
		ManagementFrames: s.stats.mgmt.Load(), Dropped: s.stats.dropped.Load()}
}

// Close stops the link and closes the port.
func (s *Serial) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.conn.Close()
}

// Management returns the management channel sharing this link's port, as
// a device.Conn for device.New: it reads only the management frames (as
// SLIP bytes) and writes to the port. Closing it does not close the link.
func (s *Serial) Management() device.Conn { return s.mgmt }

// mgmtConn is the management side of the demultiplexer.
type mgmtConn struct {
	s       *Serial
	frames  chan []byte
	mu      sync.Mutex
	pending []byte
	timeout time.Duration
}

func (m *mgmtConn) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		t := time.NewTimer(m.timeout)
		defer t.Stop()
		select {
		case f := <-m.frames:
			m.pending = slip.Encode(f)
		case <-t.C:
			return 0, nil // a serial port's read timeout
		case <-m.s.done:
			return 0, m.s.err()
		}
	}
	n := copy(p, m.pending)
	m.pending = m.pending[n:]
	return n, nil
}

func (m *mgmtConn) Write(p []byte) (int, error) {
	if err := m.s.WriteRaw(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (m *mgmtConn) SetReadTimeout(t time.Duration) error {
	m.mu.Lock()
	m.timeout = t
	m.mu.Unlock()
	return nil
}

func (m *mgmtConn) ResetInputBuffer() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = nil
	for {
		select {
		case <-m.frames:
		default:
			return nil
		}
	}
}

// Close does nothing: the link owns the port.
func (m *mgmtConn) Close() error { return nil }
