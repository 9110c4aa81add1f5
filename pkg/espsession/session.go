// Package espsession is an ESP (RFC 4303) session between the host and a
// device: the host's SA file (one outbound and one inbound SA), its
// sequence state file (pkg/seqstate), a link (pkg/link) and pkg/esp. It
// sends ICMP echo requests (Ping), task requests to the device's task
// service (Task, docs/tasks.md) and arbitrary UDP datagrams (Send, Recv),
// all inside ESP, and counts what it drops.
//
// Every packet the host receives must authenticate with the inbound SA,
// pass the anti-replay window and be above the highest sequence number of
// earlier sessions (seqstate), or it is dropped and counted. Every
// outbound sequence number is reserved in the state file before it is used.
package espsession

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/ipv4"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
	"github.com/mstool/mstool/pkg/tasks"
)

// Errors callers can branch on (errors.Is).
var (
	// ErrNoAnswer: nothing answered in time, after the retries.
	ErrNoAnswer = errors.New("espsession: no answer from the device")
	// ErrWrongSA: the device is there but ESP does not work with this SA
	// file: its replies do not authenticate or carry another SPI, or it
	// answers its management channel but ignores our ESP packets.
	ErrWrongSA = errors.New("espsession: ESP does not authenticate with this SA file")
	// ErrSAFile: the SA file cannot drive a session.
	ErrSAFile = errors.New("espsession: unusable SA file")
	// ErrClosed: the session was closed.
	ErrClosed = errors.New("espsession: closed")
	// ErrStaleState: the device has already seen the sequence numbers the
	// host used and drops them as replays: the host's sequence state is
	// behind the device (a *StaleStateError).
	ErrStaleState = errors.New("espsession: the host's sequence state is behind the device")
	// ErrTooLarge: the request's packet is longer than the device's frame
	// (IDENTIFY's frame_max): the device drops it unread.
	ErrTooLarge = errors.New("espsession: the request is longer than the device's frame")
	// ErrNotAnswered: the device accepted the request and sent no reply
	// (its not_answered counter): the reply did not fit its frame, its
	// sequence numbers are exhausted or its EEPROM refused a write.
	ErrNotAnswered = errors.New("espsession: the device took the request and sent no reply")
)

// StaleStateError is ErrStaleState with what the device reported: its
// STATUS names the host's outbound SA, says it has accepted numbers at or
// above those the session sent, that it dropped the session's last packet,
// and counts replays. Its cause is a state file behind the SA file's use:
// restored from a backup, or the SA file used from another copy
// (docs/sa-file.md, "Sequence state").
type StaleStateError struct {
	SPI           uint32 // the host's outbound SA
	DeviceHighest uint64 // the highest number the device accepted on it
	LastSent      uint64 // the highest number the session sent
	StateFile     string // the host's state file ("" without one)
	What          string // what got no answer
}

func (e *StaleStateError) Error() string {
	file := "sequence state"
	if e.StateFile != "" {
		file = "state file " + e.StateFile
	}
	return fmt.Sprintf("espsession: the device has seen sequence numbers up to %d from this SA (0x%08x); the host's %s is behind (used from another copy?): it dropped this session's packets as replays, the last numbered %d (%s)",
		e.DeviceHighest, e.SPI, file, e.LastSent, e.What)
}

func (e *StaleStateError) Is(target error) bool { return target == ErrStaleState }

// TaskError is a task reply with a status other than ok.
type TaskError struct {
	Task   tasks.Task
	ID     uint16 // the request id
	Status tasks.Status
	// RTT and Attempts as in TaskResult.
	RTT      time.Duration
	Attempts int
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("espsession: task %s: %s", e.Task, e.Status)
}

// Config sets up a session.
type Config struct {
	// SAs is the host's SA file: exactly one outbound and one inbound SA,
	// transport mode, IPv4 addresses (src/dst) set.
	SAs *safile.File
	// State is the sequence state (nil: none kept, the session starts at
	// sequence number 1; only for tests).
	State *seqstate.State
	// Link carries the packets.
	Link link.Link
	// Management, when set, is the device's management channel on the same
	// line (link.Serial.Management): when ESP gets no answer, the session
	// asks the device to IDENTIFY to tell a wrong SA from a silent device.
	Management device.Conn
	// Timeout for one answer (default 2 s) and retries after a timeout
	// (0: default 2; negative: none) for tasks.
	Timeout time.Duration
	Retries int
	// LocalPort is the UDP port tasks and Send use (0: random, 49152..65535).
	LocalPort uint16
	// Log, when set, is told of the session's events, one line each:
	// timeouts and retries, packets the host drops (replays,
	// authentication failures, other SPIs) and the sequence state saved:
	// mstool -v. The package never prints.
	Log func(msg string)
	// Trace is given to the management channel the session opens to
	// explain a silence (device.Options.Trace): mstool -vv. The ESP
	// packets themselves are the link's to trace (link.Options.Trace).
	Trace func(dir string, frame []byte)
	// Inner, when set, is given every inner IPv4 packet from the device
	// that authenticates and passes the replay checks, instead of the
	// session's own echo, task and datagram handling (Ping, Task and Recv
	// then get no answers): a tunnel (pkg/tunnel) forwards them. The
	// packet's buffer is reused after Inner returns.
	Inner func(pkt []byte)
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, a...))
	}
}

// Counters count the session's traffic as the host sees it.
type Counters struct {
	Sent        uint64 `json:"sent"`
	Received    uint64 `json:"received"` // authenticated
	AuthFailed  uint64 `json:"auth_failed"`
	Replayed    uint64 `json:"replayed"` // window or an earlier session's floor
	UnknownSPI  uint64 `json:"unknown_spi"`
	NotESP      uint64 `json:"not_esp"` // cleartext packets, dropped
	Malformed   uint64 `json:"malformed"`
	Unexpected  uint64 `json:"unexpected"` // authenticated but nobody waited for it
	FirstSeqOut uint64 `json:"first_seq_out"`
	NextSeqOut  uint64 `json:"next_seq_out"`
}

// Datagram is a UDP datagram received through ESP.
type Datagram struct {
	Src, Dst netip.AddrPort
	Payload  []byte
	Seq      uint64 // ESP sequence number it arrived with
}

// Session is an ESP session. Its methods are safe for concurrent use.
type Session struct {
	cfg           Config
	outSA, inSA   *esp.SA
	local, remote netip.Addr
	in            *esp.Inbound
	floor         uint64 // inbound: at or below is an earlier session's

	smu      sync.Mutex // sealing and sending, in sequence order
	out      *esp.Outbound
	ipID     uint16
	firstSeq uint64
	lastSeq  uint64 // the last number used, and the length of its packet
	lastLen  int

	wmu     sync.Mutex
	echoes  map[uint32]chan time.Time
	waits   map[uint16]chan tasks.Reply
	dgrams  chan Datagram
	echoID  uint16
	taskID  atomic.Uint32
	lport   uint16
	authBad atomic.Uint64 // auth failures + unknown SPI since the last check

	c struct {
		sent, recv, auth, replay, spi, clear, malformed, unexpected atomic.Uint64
	}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	rerr   error
}

// New checks the SA file, reserves the first outbound sequence numbers and
// starts receiving.
func New(cfg Config) (*Session, error) {
	if cfg.SAs == nil || len(cfg.SAs.Outbound) != 1 || len(cfg.SAs.Inbound) != 1 {
		return nil, fmt.Errorf("%w: a session needs exactly one outbound and one inbound SA", ErrSAFile)
	}
	s := &Session{cfg: cfg, outSA: cfg.SAs.Outbound[0], inSA: cfg.SAs.Inbound[0]}
	for _, sa := range []*esp.SA{s.outSA, s.inSA} {
		if sa.Mode != esp.Transport {
			return nil, fmt.Errorf("%w: SA 0x%08x is %s mode; devices speak transport mode", ErrSAFile, sa.SPI, sa.Mode)
		}
	}
	s.local, s.remote = s.outSA.Src, s.outSA.Dst
	if !s.local.Is4() || !s.remote.Is4() {
		return nil, fmt.Errorf("%w: the outbound SA has no IPv4 src/dst (make the file with 'mstool esp sa new --src HOST --dst DEVICE')", ErrSAFile)
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = 2 * time.Second
	}
	switch {
	case s.cfg.Retries < 0:
		s.cfg.Retries = 0
	case s.cfg.Retries == 0:
		s.cfg.Retries = 2
	}
	var err error
	if s.in, err = esp.NewInbound(s.inSA); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSAFile, err)
	}
	start := uint64(1)
	if cfg.State != nil {
		if start, err = cfg.State.Begin(s.outSA.SPI); err != nil {
			return nil, err
		}
		s.floor = cfg.State.InboundFloor(s.inSA.SPI)
	}
	if s.out, err = esp.NewOutbound(s.outSA, esp.WithNextSeq(start)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSAFile, err)
	}
	s.firstSeq = start
	if cfg.State != nil {
		s.cfg.logf("sequence state %s: outbound SPI 0x%08x from %d, inbound SPI 0x%08x above %d", cfg.State.Path(), s.outSA.SPI, start, s.inSA.SPI, s.floor)
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("espsession: %w", err)
	}
	s.echoID = binary.BigEndian.Uint16(r[0:])
	s.ipID = binary.BigEndian.Uint16(r[4:])
	s.taskID.Store(uint32(binary.BigEndian.Uint16(r[2:])))
	s.lport = cfg.LocalPort
	if s.lport == 0 {
		s.lport = 49152 + binary.BigEndian.Uint16(r[4:])%16384
	}
	s.echoes = map[uint32]chan time.Time{}
	s.waits = map[uint16]chan tasks.Reply{}
	s.dgrams = make(chan Datagram, 64)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	go s.receive()
	return s, nil
}

// Local and Remote are the session's addresses (from the SA file).
func (s *Session) Local() netip.Addr  { return s.local }
func (s *Session) Remote() netip.Addr { return s.remote }

// LocalPort is the UDP port the session sends from.
func (s *Session) LocalPort() uint16 { return s.lport }

// SAs returns the outbound and inbound SA.
func (s *Session) SAs() (out, in *esp.SA) { return s.outSA, s.inSA }

// Counters returns the session's counters.
func (s *Session) Counters() Counters {
	s.smu.Lock()
	next := s.out.NextSeq()
	s.smu.Unlock()
	return Counters{
		Sent: s.c.sent.Load(), Received: s.c.recv.Load(), AuthFailed: s.c.auth.Load(),
		Replayed: s.c.replay.Load(), UnknownSPI: s.c.spi.Load(), NotESP: s.c.clear.Load(),
		Malformed: s.c.malformed.Load(), Unexpected: s.c.unexpected.Load(),
		FirstSeqOut: s.firstSeq, NextSeqOut: next,
	}
}

// Close stops the session and saves the sequence state. It does not close
// the link.
func (s *Session) Close() error {
	s.cancel()
	<-s.done
	if s.cfg.State != nil {
		if err := s.cfg.State.Save(); err != nil {
			return err
		}
		st := s.cfg.State
		s.cfg.logf("sequence state saved to %s: outbound SPI 0x%08x reserved up to %d, inbound SPI 0x%08x highest %d",
			st.Path(), s.outSA.SPI, st.Reserved(s.outSA.SPI), s.inSA.SPI, st.InboundFloor(s.inSA.SPI))
	}
	return nil
}

// ErrSelector: a packet given to SendPacket is not IPv4 from the SA's
// source to its destination.
var ErrSelector = errors.New("espsession: the packet does not match the SA")

// SendPacket seals one inner IPv4 packet, built by the caller, and sends
// it. Its source and destination must be the SA's (Local, Remote), or it
// is refused with ErrSelector; the header is otherwise sent as it is.
func (s *Session) SendPacket(inner []byte) error {
	h, _, err := ipv4.Parse(inner)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSelector, err)
	}
	if h.Src != s.local || h.Dst != s.remote {
		return fmt.Errorf("%w: %s > %s, the SA is %s > %s", ErrSelector, h.Src, h.Dst, s.local, s.remote)
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.sealAndSend(inner)
}

// sendInner seals one inner IPv4 packet and sends it.
func (s *Session) sendInner(build func(h *ipv4.Header) ([]byte, error)) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.ipID++
	inner, err := build(&ipv4.Header{ID: s.ipID, Src: s.local, Dst: s.remote})
	if err != nil {
		return fmt.Errorf("espsession: %w", err)
	}
	return s.sealAndSend(inner)
}

// sealAndSend seals inner with the next sequence number, reserved first,
// and sends it; s.smu is held.
func (s *Session) sealAndSend(inner []byte) error {
	seq := s.out.NextSeq()
	if s.cfg.State != nil {
		if err := s.cfg.State.Use(s.outSA.SPI, seq); err != nil {
			return err
		}
	}
	pkt, err := s.out.SealPacket(make([]byte, 0, len(inner)+96), inner)
	if err != nil {
		return fmt.Errorf("espsession: %w", err)
	}
	s.lastSeq, s.lastLen = seq, len(pkt)
	if err := s.cfg.Link.WritePacket(pkt); err != nil {
		return err
	}
	s.c.sent.Add(1)
	return nil
}

// SealPacket seals an inner IPv4 packet with the next outbound sequence
// number (reserved like every other) and returns the ESP packet without
// sending it: for tests and tools that send crafted or altered packets.
func (s *Session) SealPacket(inner []byte) ([]byte, error) {
	s.smu.Lock()
	defer s.smu.Unlock()
	seq := s.out.NextSeq()
	if s.cfg.State != nil {
		if err := s.cfg.State.Use(s.outSA.SPI, seq); err != nil {
			return nil, err
		}
	}
	pkt, err := s.out.SealPacket(nil, inner)
	if err != nil {
		return nil, fmt.Errorf("espsession: %w", err)
	}
	s.lastSeq, s.lastLen = seq, len(pkt)
	return pkt, nil
}

// skipAhead moves the outbound sequence numbers one device block ahead:
// a device that reset keeps its inbound floor up to one block above what
// it accepted (docs/eeprom.md), so after a timeout the next attempt jumps
// over it. Numbers are skipped, never reused.
func (s *Session) skipAhead() error {
	s.smu.Lock()
	defer s.smu.Unlock()
	next := s.out.NextSeq() + seqstate.DeviceBlock
	if s.cfg.State != nil {
		if err := s.cfg.State.Use(s.outSA.SPI, next); err != nil {
			return err
		}
	}
	out, err := esp.NewOutbound(s.outSA, esp.WithNextSeq(next))
	if err != nil {
		return fmt.Errorf("espsession: %w", err)
	}
	s.out = out
	s.cfg.logf("next outbound sequence number moved ahead to %d (a device that reset keeps its floor up to one block ahead)", next)
	return nil
}

// receive reads the link until the session closes.
func (s *Session) receive() {
	defer close(s.done)
	buf := make([]byte, 0, 2048)
	for {
		pkt, err := s.cfg.Link.ReadPacket(s.ctx)
		if err != nil {
			s.rerr = err
			s.wmu.Lock()
			for k, ch := range s.echoes {
				close(ch)
				delete(s.echoes, k)
			}
			for k, ch := range s.waits {
				close(ch)
				delete(s.waits, k)
			}
			s.wmu.Unlock()
			close(s.dgrams)
			return
		}
		s.handle(buf[:0], pkt)
	}
}

func (s *Session) handle(buf, pkt []byte) {
	h, err := esp.ParsePacket(pkt)
	switch {
	case errors.Is(err, esp.ErrNotESP):
		s.c.clear.Add(1)
		s.cfg.logf("dropped a packet of %d bytes: not ESP", len(pkt))
		return
	case err != nil:
		s.c.malformed.Add(1)
		s.cfg.logf("dropped a malformed packet of %d bytes: %v", len(pkt), err)
		return
	case h.SPI != s.inSA.SPI:
		s.c.spi.Add(1)
		s.authBad.Add(1)
		s.cfg.logf("dropped a packet for SPI 0x%08x: the inbound SA is 0x%08x", h.SPI, s.inSA.SPI)
		return
	}
	inner, seq, err := s.in.OpenPacketNoReplay(buf, pkt)
	switch {
	case errors.Is(err, esp.ErrAuth):
		s.c.auth.Add(1)
		s.authBad.Add(1)
		s.cfg.logf("dropped packet %d: it does not authenticate with SPI 0x%08x", h.Seq, h.SPI)
		return
	case errors.Is(err, esp.ErrDummy):
		_ = s.in.CheckAndUpdateReplay(seq)
		return
	case err != nil:
		s.c.malformed.Add(1)
		s.cfg.logf("dropped a malformed packet of %d bytes: %v", len(pkt), err)
		return
	}
	if seq <= s.floor {
		s.c.replay.Add(1)
		s.cfg.logf("dropped packet %d as a replay: at or below %d, the highest of earlier sessions", seq, s.floor)
		return
	}
	if s.in.CheckAndUpdateReplay(seq) != nil {
		s.c.replay.Add(1)
		s.cfg.logf("dropped packet %d as a replay (anti-replay window)", seq)
		return
	}
	if s.cfg.State != nil {
		// On disk before the packet is handed on: after a crash the next
		// session still drops it as a replay.
		if err := s.cfg.State.ReceivedSync(s.inSA.SPI, seq); err != nil {
			s.c.unexpected.Add(1)
			s.cfg.logf("dropped packet %d: recording it in the sequence state failed: %v", seq, err)
			return
		}
	}
	s.c.recv.Add(1)
	if s.cfg.Inner != nil {
		s.cfg.Inner(inner)
		return
	}
	now := time.Now()
	ip, payload, err := ipv4.Parse(inner)
	if err != nil || ip.Src != s.remote {
		s.c.unexpected.Add(1)
		return
	}
	switch ip.Protocol {
	case ipv4.ProtoICMP:
		e, err := ipv4.ParseEcho(inner)
		if err != nil || !e.Reply || e.ID != s.echoID {
			s.c.unexpected.Add(1)
			return
		}
		s.wmu.Lock()
		ch := s.echoes[uint32(e.ID)<<16|uint32(e.Seq)]
		delete(s.echoes, uint32(e.ID)<<16|uint32(e.Seq))
		s.wmu.Unlock()
		if ch == nil {
			s.c.unexpected.Add(1)
			return
		}
		ch <- now
	case ipv4.ProtoUDP:
		u, err := ipv4.ParseUDP(inner)
		if err != nil {
			s.c.malformed.Add(1)
			return
		}
		if u.SrcPort == tasks.Port && u.DstPort == s.lport {
			if r, err := tasks.ParseReply(u.Payload); err == nil {
				s.wmu.Lock()
				ch := s.waits[r.ID]
				delete(s.waits, r.ID)
				s.wmu.Unlock()
				if ch != nil {
					r.Result = append([]byte(nil), r.Result...)
					ch <- r
					return
				}
			}
		}
		d := Datagram{Src: netip.AddrPortFrom(u.IP.Src, u.SrcPort), Dst: netip.AddrPortFrom(u.IP.Dst, u.DstPort),
			Payload: append([]byte(nil), u.Payload...), Seq: seq}
		select {
		case s.dgrams <- d:
		default:
			s.c.unexpected.Add(1)
		}
	default:
		_ = payload
		s.c.unexpected.Add(1)
	}
}

// noAnswer explains a timeout: ErrWrongSA when replies failed to
// authenticate or the device answers its management channel, a
// *StaleStateError when its STATUS says it dropped our numbers as replays,
// else ErrNoAnswer.
func (s *Session) noAnswer(ctx context.Context, what string) error {
	if n := s.authBad.Swap(0); n > 0 {
		return fmt.Errorf("%w: %d packets from the device failed authentication or carried another SPI (%s)", ErrWrongSA, n, what)
	}
	if s.cfg.Management != nil {
		s.cfg.logf("no answer through ESP: asking the device why on its management channel")
		d, err := s.managementDevice()
		if err == nil {
			if info, err := d.Identify(ctx); err == nil {
				if info.Options&device.OptIPStack != 0 && info.Options&device.OptProvisioned == 0 {
					why := ""
					if st, err := d.Status(ctx); err == nil {
						why = ": " + st.ReasonText
					}
					return fmt.Errorf("%w: the device (%s, firmware %s) is unprovisioned%s; it drops all ESP (%s)", ErrWrongSA, info.MCU, info.Firmware, why, what)
				}
				st, err := d.Status(ctx)
				if err == nil {
					if err := s.stale(st, what); err != nil {
						return err
					}
				} else {
					st = nil
				}
				if err := s.hopeless(info, st, what); err != nil {
					return err
				}
				return fmt.Errorf("%w: the device (%s, firmware %s) answers its management channel but not ESP (%s): it holds other SAs, or none (unprovisioned)", ErrWrongSA, info.MCU, info.Firmware, what)
			}
		}
	}
	if s.rerr != nil {
		return fmt.Errorf("%w (%s): %v", ErrNoAnswer, what, s.rerr)
	}
	return fmt.Errorf("%w (%s)", ErrNoAnswer, what)
}

// stale returns a *StaleStateError when the device's STATUS shows that it
// dropped the session's packets as replays: its inbound SA is our outbound
// SA, it has accepted a number at or above the last one we sent, the last
// packet it got (of our last packet's length) got no answer, and it counts
// replays. A device that accepted our last packet and whose reply was lost
// answered it (last result 0), so it is not taken for a stale state.
func (s *Session) stale(st *device.Status, what string) error {
	s.smu.Lock()
	last, length := s.lastSeq, s.lastLen
	s.smu.Unlock()
	replayed := len(st.Counters) > tasks.CounterESPReplayed && st.Counters[tasks.CounterESPReplayed] > 0
	if last == 0 || st.InSPI != s.outSA.SPI || uint64(st.InHighest) < last ||
		st.LastResult != 1 || int(st.LastLength) != length || !replayed {
		return nil
	}
	e := &StaleStateError{SPI: s.outSA.SPI, DeviceHighest: uint64(st.InHighest), LastSent: last, What: what}
	if s.cfg.State != nil {
		e.StateFile = s.cfg.State.Path()
	}
	return e
}

// managementDevice is a client of the device's management channel (a
// serial link's), for asking it why ESP got no answer.
func (s *Session) managementDevice() (*device.Device, error) {
	return device.New(s.cfg.Management, &device.Options{Timeout: time.Second, Retries: -1, Log: s.cfg.Log, Trace: s.cfg.Trace})
}

// hopeless returns ErrTooLarge or ErrNotAnswered when the device's
// IDENTIFY (info) and STATUS (st; nil when unread) say the session's last
// request can never be answered, so retrying it is useless (and would run
// the task again); else nil.
func (s *Session) hopeless(info *device.Info, st *device.Status, what string) error {
	s.smu.Lock()
	length := s.lastLen
	s.smu.Unlock()
	if info.FrameMax > 0 && length > info.FrameMax {
		return fmt.Errorf("%w: %d bytes sealed, the device (%s) takes %d (%s)", ErrTooLarge, length, info.MCU, info.FrameMax, what)
	}
	if st != nil && s.unsent(st) {
		return fmt.Errorf("%w (%s): its reply did not fit its %d-byte frame, its sequence numbers are exhausted, or its EEPROM refused a write (counter not_answered)", ErrNotAnswered, what, info.FrameMax)
	}
	return nil
}

// askBeforeRetry is hopeless for a request that got no answer in time,
// when the device has a management channel (a serial link): nil when it
// cannot tell.
func (s *Session) askBeforeRetry(ctx context.Context, what string) error {
	if s.cfg.Management == nil {
		return nil
	}
	d, err := s.managementDevice()
	if err != nil {
		return nil
	}
	info, err := d.Identify(ctx)
	if err != nil {
		return nil
	}
	st, err := d.Status(ctx)
	if err != nil {
		st = nil
	}
	return s.hopeless(info, st, what)
}

// unsent reports whether the device's STATUS shows that it accepted the
// session's last packet (its inbound SA is ours, that number is the
// highest it has seen, the last packet it got had our length) and sent
// nothing back for it, counting it as not answered.
func (s *Session) unsent(st *device.Status) bool {
	s.smu.Lock()
	last, length := s.lastSeq, s.lastLen
	s.smu.Unlock()
	notAnswered := len(st.Counters) > tasks.CounterNotAnswered && st.Counters[tasks.CounterNotAnswered] > 0
	// == last, not >=: a device that has seen higher numbers dropped ours
	// as a replay (a stale state, which retries skipping ahead can cure)
	return last != 0 && st.InSPI == s.outSA.SPI && uint64(st.InHighest) == last &&
		st.LastResult == 1 && int(st.LastLength) == length && notAnswered
}

// Ping sends one ICMP echo request with data and waits for the reply. It
// does not retry (like ping(8), a lost echo is a loss); after a timeout it
// moves the sequence numbers ahead so a device that reset accepts the
// next one.
func (s *Session) Ping(ctx context.Context, seq uint16, data []byte) (time.Duration, error) {
	key := uint32(s.echoID)<<16 | uint32(seq)
	ch := make(chan time.Time, 1)
	s.wmu.Lock()
	s.echoes[key] = ch
	s.wmu.Unlock()
	defer func() {
		s.wmu.Lock()
		if s.echoes[key] == ch {
			delete(s.echoes, key)
		}
		s.wmu.Unlock()
	}()
	start := time.Now()
	err := s.sendInner(func(h *ipv4.Header) ([]byte, error) {
		return ipv4.AppendEcho(nil, h, ipv4.ICMPEchoRequest, s.echoID, seq, data)
	})
	if err != nil {
		return 0, err
	}
	t := time.NewTimer(s.cfg.Timeout)
	defer t.Stop()
	select {
	case at, ok := <-ch:
		if !ok {
			return 0, s.closedErr()
		}
		return at.Sub(start), nil
	case <-t.C:
		s.cfg.logf("echo %d: no answer within %v", seq, s.cfg.Timeout)
		if err := s.skipAhead(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w (echo %d within %v)", ErrNoAnswer, seq, s.cfg.Timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Diagnose explains why the device has not answered (after Ping losses):
// ErrWrongSA, ErrStaleState or ErrNoAnswer.
func (s *Session) Diagnose(ctx context.Context) error { return s.noAnswer(ctx, "echo requests") }

func (s *Session) closedErr() error {
	if s.rerr != nil && !errors.Is(s.rerr, context.Canceled) {
		return fmt.Errorf("%w: %v", ErrClosed, s.rerr)
	}
	return ErrClosed
}

// TaskResult is a successful task reply.
type TaskResult struct {
	Task     tasks.Task
	ID       uint16
	Result   []byte
	RTT      time.Duration
	Attempts int
}

// Task runs one task on the device and returns its result. It retries
// after a timeout (with a new ESP sequence number, one device block ahead,
// and the same request id, so a late reply to an earlier attempt counts).
// A reply with a status other than ok is a *TaskError.
func (s *Session) Task(ctx context.Context, t tasks.Task, args []byte) (*TaskResult, error) {
	id := uint16(s.taskID.Add(1))
	ch := make(chan tasks.Reply, 1)
	s.wmu.Lock()
	s.waits[id] = ch
	s.wmu.Unlock()
	defer func() {
		s.wmu.Lock()
		if s.waits[id] == ch {
			delete(s.waits, id)
		}
		s.wmu.Unlock()
	}()
	req := tasks.AppendRequest(nil, t, id, args)
	start := time.Now()
	for attempt := 0; attempt <= s.cfg.Retries; attempt++ {
		if attempt > 0 {
			if err := s.skipAhead(); err != nil {
				return nil, err
			}
		}
		err := s.sendInner(func(h *ipv4.Header) ([]byte, error) {
			return ipv4.AppendUDP(nil, h, s.lport, tasks.Port, req)
		})
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		timer := time.NewTimer(s.cfg.Timeout)
		select {
		case r, ok := <-ch:
			timer.Stop()
			if !ok {
				return nil, s.closedErr()
			}
			if r.Task != t {
				return nil, fmt.Errorf("%w: reply for task %d to a request for %s", tasks.ErrMalformed, r.Task, t)
			}
			if r.Status != tasks.StatusOK {
				return nil, &TaskError{Task: t, ID: id, Status: r.Status, RTT: time.Since(t0), Attempts: attempt + 1}
			}
			_ = start
			return &TaskResult{Task: t, ID: id, Result: r.Result, RTT: time.Since(t0), Attempts: attempt + 1}, nil
		case <-timer.C:
			if attempt < s.cfg.Retries {
				if err := s.askBeforeRetry(ctx, fmt.Sprintf("task %s, attempt %d", t, attempt+1)); err != nil {
					return nil, err
				}
				s.cfg.logf("task %s (id %d): no answer within %v, retry %d/%d", t, id, s.cfg.Timeout, attempt+1, s.cfg.Retries)
			} else {
				s.cfg.logf("task %s (id %d): no answer within %v, no retries left", t, id, s.cfg.Timeout)
			}
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
	}
	return nil, s.noAnswer(ctx, fmt.Sprintf("task %s, %d attempts of %v", t, s.cfg.Retries+1, s.cfg.Timeout))
}

// Send sends one UDP datagram to the device's port dport through ESP.
func (s *Session) Send(dport uint16, payload []byte) error {
	return s.sendInner(func(h *ipv4.Header) ([]byte, error) {
		return ipv4.AppendUDP(nil, h, s.lport, dport, payload)
	})
}

// Recv returns the next UDP datagram received through ESP that is not a
// reply to a pending task.
func (s *Session) Recv(ctx context.Context) (Datagram, error) {
	select {
	case d, ok := <-s.dgrams:
		if !ok {
			return Datagram{}, s.closedErr()
		}
		return d, nil
	case <-ctx.Done():
		return Datagram{}, ctx.Err()
	}
}
