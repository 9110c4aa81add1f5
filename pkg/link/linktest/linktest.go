// Package linktest provides in-memory stand-ins for a device link, so the
// link and session code can be tested without a simulator: Pipe (a
// null-modem cable of two device.Conn ends) and Device, a fake device
// written in Go from pkg/esp that speaks SLIP, answers IDENTIFY on the
// management channel and serves ICMP echo and the task service
// (docs/tasks.md) inside ESP, counting its drops in the order of task
// counters. The real firmware is tested against the same expectations
// end to end (cmd/mstool's esp tests).
package linktest

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/mstool/mstool/internal/taskfake"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/slip"
	"github.com/mstool/mstool/pkg/tasks"
)

// Pipe returns the two ends of an in-memory serial line. Each end's Read
// honours its read timeout (returning 0, nil when it expires), like a
// go.bug.st/serial port.
func Pipe() (a, b device.Conn) {
	ab, ba := newQueue(), newQueue()
	return &end{r: ba, w: ab, timeout: 50 * time.Millisecond}, &end{r: ab, w: ba, timeout: 50 * time.Millisecond}
}

type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

type end struct {
	r, w    *queue
	mu      sync.Mutex
	timeout time.Duration
}

func (e *end) Read(p []byte) (int, error) {
	e.mu.Lock()
	timeout := e.timeout
	e.mu.Unlock()
	deadline := time.Now().Add(timeout)
	q := e.r
	q.mu.Lock()
	defer q.mu.Unlock()
	t := time.AfterFunc(timeout, func() { q.mu.Lock(); q.cond.Broadcast(); q.mu.Unlock() })
	defer t.Stop()
	for len(q.buf) == 0 {
		if q.closed {
			return 0, io.EOF
		}
		if !time.Now().Before(deadline) {
			return 0, nil
		}
		q.cond.Wait()
	}
	n := copy(p, q.buf)
	q.buf = q.buf[n:]
	return n, nil
}

func (e *end) Write(p []byte) (int, error) {
	q := e.w
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, io.ErrClosedPipe
	}
	q.buf = append(q.buf, p...)
	q.cond.Broadcast()
	return len(p), nil
}

func (e *end) SetReadTimeout(t time.Duration) error {
	e.mu.Lock()
	e.timeout = t
	e.mu.Unlock()
	return nil
}

func (e *end) ResetInputBuffer() error {
	e.r.mu.Lock()
	e.r.buf = nil
	e.r.mu.Unlock()
	return nil
}

func (e *end) Close() error {
	for _, q := range []*queue{e.r, e.w} {
		q.mu.Lock()
		q.closed = true
		q.cond.Broadcast()
		q.mu.Unlock()
	}
	return nil
}

// Config describes a fake device.
type Config struct {
	// SAs is the HOST's SA file; the device uses its mirror.
	SAs *safile.File
	// Silent: the device ignores ESP (its SAs are "other"), but answers
	// its management channel.
	Silent bool
	// AllowClearICMP answers ICMP echo outside ESP.
	AllowClearICMP bool
	// Floor, when set, makes the device start with an inbound floor
	// (as after a reset).
	Floor uint64
	// OutSeq is the first outbound sequence number (0: 1), as a device
	// that resumes after a reset.
	OutSeq uint64
}

// Device is a running fake device.
type Device struct {
	cfg      Config
	conn     device.Conn
	addr     netip.Addr
	in       *esp.Inbound
	out      *esp.Outbound
	mu       sync.Mutex
	counters [16]uint32
	highest  uint64 // highest inbound sequence number accepted
	lastLen  int    // length of the last IPv4 packet
	lastDrop bool   // it got no answer
	tasks    taskfake.Service
	done     chan struct{}
}

// Serve runs a fake device on conn until conn is closed.
func Serve(conn device.Conn, cfg Config) (*Device, error) {
	dev := cfg.SAs.Mirror()
	if len(dev.Inbound) != 1 || len(dev.Outbound) != 1 {
		return nil, errors.New("linktest: the SA file must hold one pair")
	}
	in, err := esp.NewInbound(dev.Inbound[0])
	if err != nil {
		return nil, err
	}
	var opts []esp.OutboundOption
	if cfg.OutSeq > 0 {
		opts = append(opts, esp.WithNextSeq(cfg.OutSeq))
	}
	out, err := esp.NewOutbound(dev.Outbound[0], opts...)
	if err != nil {
		return nil, err
	}
	d := &Device{cfg: cfg, conn: conn, addr: dev.Inbound[0].Dst, in: in, out: out, done: make(chan struct{}), highest: cfg.Floor}
	start := time.Now()
	d.tasks = taskfake.Service{DeviceID: 0x12345678, MCU: 0x31,
		Uptime: func() uint32 { return uint32(time.Since(start) / time.Second) },
		Counters: func() []uint32 {
			d.mu.Lock()
			defer d.mu.Unlock()
			return append([]uint32(nil), d.counters[:]...)
		}}
	if cfg.Floor > 0 {
		// Everything at or below the floor is a replay: mark it seen.
		for s := cfg.Floor; s > 0 && s+uint64(esp.DefaultReplayWindow) > cfg.Floor; s-- {
			_ = in.CheckAndUpdateReplay(s)
		}
	}
	go d.loop()
	return d, nil
}

// Done is closed when the device stopped (its line closed).
func (d *Device) Done() <-chan struct{} { return d.done }

// Counter returns counter i (tasks.Counter*).
func (d *Device) Counter(i int) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counters[i]
}

func (d *Device) count(i int) {
	d.mu.Lock()
	d.counters[i]++
	d.mu.Unlock()
}

func (d *Device) loop() {
	defer close(d.done)
	dec := slip.NewDecoder(296)
	buf := make([]byte, 512)
	var lastBad, lastOver uint64
	for {
		n, err := d.conn.Read(buf)
		if n > 0 {
			dec.Feed(buf[:n], d.frame)
			if dec.Stats.BadEscape != lastBad || dec.Stats.Oversized != lastOver {
				d.mu.Lock()
				d.counters[tasks.CounterSLIPDropped] += uint32(dec.Stats.BadEscape - lastBad + dec.Stats.Oversized - lastOver)
				d.mu.Unlock()
				lastBad, lastOver = dec.Stats.BadEscape, dec.Stats.Oversized
			}
		}
		if err != nil {
			return
		}
	}
}

func (d *Device) frame(f []byte) {
	d.count(tasks.CounterSLIPFrames)
	switch {
	case f[0] == 0:
		d.mgmt(f)
	case f[0] >= 0x45 && f[0] <= 0x4f:
		sent := d.Counter(tasks.CounterPacketsSent)
		d.ip(append([]byte(nil), f...))
		d.mu.Lock()
		d.lastLen, d.lastDrop = len(f), d.counters[tasks.CounterPacketsSent] == sent
		d.mu.Unlock()
	default:
		d.count(tasks.CounterSLIPDropped)
	}
}

func (d *Device) send(pkt []byte) {
	d.count(tasks.CounterPacketsSent)
	d.conn.Write(slip.Encode(pkt))
}

// mgmt answers IDENTIFY and STATUS (docs/firmware-net.md; a Silent
// device reports an inbound SA other than the host's); everything else
// gets "unknown command".
func (d *Device) mgmt(f []byte) {
	if len(f) < 7 || int(binary.BigEndian.Uint16(f[3:])) != len(f)-7 ||
		provision.CRC16(f[:len(f)-2]) != binary.BigEndian.Uint16(f[len(f)-2:]) || f[1]&0x80 != 0 {
		return
	}
	typ, seq := f[1], f[2]
	var payload []byte
	if typ == 0x01 {
		name := "atmega328p"
		payload = []byte{1, 0, 1, 0, 0, 0xf4, 0x24, 0x00, 0x1e, 0x95, 0x0f, 0, 0x0f, 0x01, 0x28, 0x01, 0x21,
			0, 64, 0, 64, 0x08, 0, 0, 32, 0x04, 0, byte(len(name))}
		payload = append(payload, name...)
		typ |= 0x80
	} else if typ == 0x05 {
		payload = d.status()
		typ |= 0x80
	} else {
		payload = []byte{1, typ}
		typ = 0xff
	}
	r := []byte{0, typ, seq, byte(len(payload) >> 8), byte(len(payload))}
	r = append(r, payload...)
	r = binary.BigEndian.AppendUint16(r, provision.CRC16(r))
	d.conn.Write(slip.Encode(r))
}

// status is the STATUS reply payload: SAs, sequence state, the last
// packet and the counters (the fields a fake does not model are zero).
func (d *Device) status() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	sas := d.cfg.SAs.Mirror()
	inSPI, outSPI := sas.Inbound[0].SPI, sas.Outbound[0].SPI
	if d.cfg.Silent {
		inSPI, outSPI = ^inSPI, ^outSPI
	}
	p := []byte{1, 0, 1 << (sas.Inbound[0].Suite - 1), 0, 0, 0, 0, 1}
	p = append(p, d.addr.AsSlice()...)
	p = append(p, sas.Outbound[0].Dst.AsSlice()...)
	p = binary.BigEndian.AppendUint32(p, inSPI)
	p = append(p, byte(sas.Inbound[0].Suite), 0)
	p = binary.BigEndian.AppendUint32(p, outSPI)
	p = append(p, byte(sas.Outbound[0].Suite), 0)
	p = binary.BigEndian.AppendUint32(p, 1)                   // generation
	p = binary.BigEndian.AppendUint32(p, 0)                   // outbound reserved
	p = binary.BigEndian.AppendUint32(p, 0)                   // outbound next
	p = binary.BigEndian.AppendUint32(p, uint32(d.cfg.Floor)) // inbound floor
	p = binary.BigEndian.AppendUint32(p, uint32(d.highest))   // inbound highest
	p = binary.BigEndian.AppendUint16(p, 1)                   // boot count
	p = binary.BigEndian.AppendUint32(p, 0)                   // cycles
	p = binary.BigEndian.AppendUint16(p, uint16(d.lastLen))   // last packet's length
	p = append(p, 0)                                          // and result
	if d.lastDrop {
		p[len(p)-1] = 1
	}
	p = append(p, byte(len(d.counters)))
	for _, c := range d.counters {
		p = binary.BigEndian.AppendUint32(p, c)
	}
	return p
}

func (d *Device) ip(pkt []byte) {
	h, _, err := ipv4.Parse(pkt)
	switch {
	case errors.Is(err, ipv4.ErrOptions), errors.Is(err, ipv4.ErrFragment):
		d.count(tasks.CounterIPv4OptionsFragments)
		return
	case err != nil:
		d.count(tasks.CounterIPv4BadHeader)
		return
	case h.Dst != d.addr:
		d.count(tasks.CounterIPv4NotForUs)
		return
	}
	d.count(tasks.CounterIPv4Received)
	if _, err := esp.ParsePacket(pkt); err != nil {
		if errors.Is(err, esp.ErrMalformed) {
			d.count(tasks.CounterESPMalformed)
			return
		}
		if e, err := ipv4.ParseEcho(pkt); err == nil && d.cfg.AllowClearICMP && !e.Reply {
			r, _ := ipv4.AppendEcho(nil, &ipv4.Header{Src: d.addr, Dst: h.Src}, ipv4.ICMPEchoReply, e.ID, e.Seq, e.Data)
			d.count(tasks.CounterICMPEchoAnswered)
			d.send(r)
			return
		}
		d.count(tasks.CounterNotESP)
		return
	}
	if d.cfg.Silent {
		d.count(tasks.CounterESPUnknownSPI)
		return
	}
	inner, err := d.in.OpenPacket(nil, pkt)
	switch {
	case errors.Is(err, esp.ErrUnknownSPI):
		d.count(tasks.CounterESPUnknownSPI)
		return
	case errors.Is(err, esp.ErrAuth):
		d.count(tasks.CounterESPAuthFailed)
		return
	case errors.Is(err, esp.ErrReplay):
		d.count(tasks.CounterESPReplayed)
		return
	case err != nil:
		d.count(tasks.CounterESPMalformed)
		return
	}
	if h, err := esp.ParsePacket(pkt); err == nil {
		d.mu.Lock()
		d.highest = max(d.highest, uint64(h.Seq))
		d.mu.Unlock()
	}
	reply := d.serve(inner)
	if reply == nil {
		return
	}
	out, err := d.out.SealPacket(nil, reply)
	if err != nil {
		return
	}
	d.send(out)
}

// serve answers one inner packet; nil means no answer.
func (d *Device) serve(inner []byte) []byte {
	ih, _, err := ipv4.Parse(inner)
	if err != nil {
		d.count(tasks.CounterESPMalformed)
		return nil
	}
	back := &ipv4.Header{Src: d.addr, Dst: ih.Src}
	switch ih.Protocol {
	case ipv4.ProtoICMP:
		e, err := ipv4.ParseEcho(inner)
		if err != nil || e.Reply {
			return nil
		}
		d.count(tasks.CounterICMPEchoAnswered)
		r, _ := ipv4.AppendEcho(nil, back, ipv4.ICMPEchoReply, e.ID, e.Seq, e.Data)
		return r
	case ipv4.ProtoUDP:
		u, err := ipv4.ParseUDP(inner)
		if err != nil {
			d.count(tasks.CounterUDPBad)
			return nil
		}
		if u.DstPort != tasks.Port {
			d.count(tasks.CounterUDPNoService)
			return nil
		}
		t, id, args, err := tasks.ParseRequest(u.Payload)
		if err != nil {
			d.count(tasks.CounterUDPBad)
			return nil
		}
		d.count(tasks.CounterTasksServed)
		st, res := d.task(u.Payload[0], t, args)
		r, _ := ipv4.AppendUDP(nil, back, tasks.Port, u.SrcPort, tasks.AppendReply(nil, t, id, st, res))
		return r
	}
	return nil
}

func (d *Device) task(version byte, t tasks.Task, args []byte) (tasks.Status, []byte) {
	if version != tasks.Version {
		return tasks.StatusBadVersion, nil
	}
	return d.tasks.Run(t, args)
}

// Inject sends pkt to the host as if the device had sent it (tests of
// replays and forgeries).
func (d *Device) Inject(pkt []byte) error {
	_, err := d.conn.Write(slip.Encode(pkt))
	return err
}
