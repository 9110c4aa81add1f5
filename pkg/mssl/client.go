package mssl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/tasks"
)

// ErrNoAnswer: the device did not answer in time, after the retries.
var ErrNoAnswer = errors.New("mssl: no answer from the device")

// Config sets up a client session.
type Config struct {
	Grant     []byte            // the whole grant (body ‖ signature)
	HostKey   [KeySize]byte     // the grant's host key (NAME.hostkey)
	Transport Transport         // carries the messages
	KeyLog    io.Writer         // when set, one key log line per session (docs/mssl.md, "Key log")
	Rand      io.Reader         // Nh source (nil: crypto/rand)
	Timeout   time.Duration     // one answer (0: 2 s)
	Retries   int               // after a timeout (0: 2; negative: none)
	Observe   func(alert Alert) // when set, called with every cleartext alert received during the session
	// Management, when set, is the device's management channel on the
	// same line (link.Serial.Management): when the handshake gets no
	// answer, Dial asks the device why (Diagnose) and returns a
	// *NoAnswerError. Unset, it is the port's of a *SerialTransport
	// (OpenTransport).
	Management device.Conn
	// FCPU is the device's clock in Hz (device.Info.FCPU, from IDENTIFY;
	// 0: the clock of a *SerialTransport's IDENTIFY answer, else 16 MHz).
	// The wait for the device's RSA verification of the grant scales with
	// it (RSAWait).
	FCPU uint32
	// Log, when set, is told of the waits and retries of the session, one
	// line each ("handshake: no answer within 2s, retry 2/3"): mstool -v.
	Log func(msg string)
	// Trace, when set, is given every message sent ("send") and received
	// ("recv"), as it is on the transport: mstool -vv.
	Trace func(dir string, msg []byte)
	// Progress, when set, is told of a long wait a person should see:
	// "device verifying the grant (RSA-2048, about 1 s)" during the first
	// handshake with a grant (the device has not cached it).
	Progress func(msg string)
}

// RSAWait estimates how long a device with clock fcpu (Hz; 0: 16 MHz)
// takes to verify a bits-bit RSA signature (e = 65537): about 1 s for
// RSA-2048 at 16 MHz, growing with the square of the modulus size and
// inversely with the clock.
func RSAWait(bits int, fcpu uint32) time.Duration {
	if fcpu == 0 {
		fcpu = 16000000
	}
	r := float64(bits) / 2048
	return time.Duration(float64(time.Second) * r * r * 16e6 / float64(fcpu))
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, a...))
	}
}

// tracing shows every message of a Transport to Config.Trace.
type tracing struct {
	Transport
	trace func(dir string, msg []byte)
}

func (t tracing) Send(msg []byte) error {
	t.trace("send", msg)
	return t.Transport.Send(msg)
}

func (t tracing) Recv(ctx context.Context) ([]byte, error) {
	m, err := t.Transport.Recv(ctx)
	if err == nil {
		t.trace("recv", m)
	}
	return m, err
}

// Session is an established MSSL session. Its methods are not safe for
// concurrent use: the protocol is one request at a time.
type Session struct {
	cfg      Config
	g        *grant.Grant
	c2s, s2c *direction
	nextOut  uint32
	lastIn   uint32
	reqID    uint16
	nd       [NonceSize]byte
	cached   bool
	noRSA    bool // the device verifies no RSA (ServerHello FlagNoRSA)
	mu       sync.Mutex
	closed   bool
	lastClr  Alert         // last cleartext alert seen while waiting
	waited   time.Duration // the last handshake attempt's timeout
	sawClr   bool
	stats    ClientStats
}

// ClientStats count what the client dropped.
type ClientStats struct {
	BadRecords      uint64 // records that did not authenticate
	Replayed        uint64 // device records at or below the last sequence number
	ClearAlerts     uint64 // cleartext alerts during the session (unauthenticated: advisory)
	Unexpected      uint64 // messages nobody waited for
	Retransmissions uint64
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Second
	}
	return c.Timeout
}

func (c *Config) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return 2
	}
	return c.Retries
}

// Dial runs the handshake and returns the established session. Over a
// *SerialTransport from OpenTransport, it uses the port's management
// channel and the device's clock (Config.Management, Config.FCPU) unless
// cfg sets them. A grant the device rejects gives an *AlertError (Remote)
// saying why; no answer at all gives ErrNoAnswer. A handshake that times
// out is restarted from the beginning with a fresh Nh, up to Retries
// times.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Transport == nil {
		return nil, errors.New("mssl: no transport")
	}
	g, err := grant.Parse(cfg.Grant)
	if err != nil {
		return nil, fmt.Errorf("mssl: %w", err)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if st, ok := cfg.Transport.(serialTransporter); ok {
		st := st.serialTransport()
		if cfg.Management == nil && st.Serial != nil {
			cfg.Management = st.Serial.Management()
		}
		if cfg.FCPU == 0 && st.Info != nil {
			cfg.FCPU = st.Info.FCPU
		}
	}
	var sent netip.Addr
	if r, ok := cfg.Transport.(remoteAddr); ok {
		sent = r.Remote().Addr()
	}
	if cfg.Trace != nil {
		cfg.Transport = tracing{cfg.Transport, cfg.Trace}
	}
	s := &Session{cfg: cfg, g: g}
	attempts := cfg.retries() + 1
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			s.stats.Retransmissions++
			cfg.logf("handshake: no answer within %v, retry %d/%d", s.waited, attempt, attempts)
		}
		err := s.handshake(ctx)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, err
		}
	}
	if cfg.Management != nil {
		cfg.logf("handshake: no answer; asking the device why on its management channel")
		if err := Diagnose(ctx, cfg.Management, sent); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w within %v (%d attempts)", ErrNoAnswer, s.waited, attempts)
}

// recvTimeout waits for a message for one timeout.
func (s *Session) recv(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	return s.cfg.Transport.Recv(ctx)
}

func remoteAlert(m []byte) error {
	a, err := ParseAlert(m)
	if err != nil {
		return fmt.Errorf("mssl: %w", err)
	}
	return &AlertError{Code: a, Remote: true}
}

func (s *Session) handshake(ctx context.Context) error {
	ch := ClientHello{}
	if _, err := io.ReadFull(s.cfg.Rand, ch.Nh[:]); err != nil {
		return fmt.Errorf("mssl: random: %w", err)
	}
	copy(ch.Body[:], s.cfg.Grant[:grant.BodySize])
	if err := s.cfg.Transport.Send(ch.Marshal()); err != nil {
		return err
	}
	s.waited = s.cfg.timeout()
	deadline, cancel := context.WithTimeout(ctx, s.waited)
	defer cancel()
	// ServerHello, or an alert.
	var sh *ServerHello
	for sh == nil {
		m, err := s.cfg.Transport.Recv(deadline)
		if err != nil {
			return err
		}
		switch {
		case len(m) > 0 && m[0] == TypeAlert:
			return remoteAlert(m)
		case len(m) > 0 && m[0] == TypeServerHello:
			if sh, err = ParseServerHello(m); err != nil {
				return err
			}
		default:
			s.stats.Unexpected++ // stale records of an earlier session
		}
	}
	k := DeriveKeys(s.cfg.HostKey, ch.Nh, sh.Nd)
	s.c2s = newDirection(k.ClientKey, k.ClientSalt, dirC2S)
	s.s2c = newDirection(k.ServerKey, k.ServerSalt, dirS2C)
	s.nd, s.cached, s.noRSA = sh.Nd, sh.Flags&FlagCached != 0, sh.Flags&FlagNoRSA != 0
	if s.cfg.KeyLog != nil {
		if _, err := io.WriteString(s.cfg.KeyLog, KeyLogLine(ch.Nh, sh.Nd, k)); err != nil {
			return fmt.Errorf("mssl: key log: %w", err)
		}
	}
	sealTag := s.cfg.Grant[grant.OffTag:grant.BodySize]
	// The Finished AAD is header ‖ flags ‖ seal tag: seal puts the header
	// first itself, so flags ‖ seal tag is the extra part.
	fin := s.c2s.seal(nil, RecordFinished, 0, nil, finishedExtra(sh.Flags, sealTag))
	if err := s.cfg.Transport.Send(fin); err != nil {
		return err
	}
	for {
		m, err := s.cfg.Transport.Recv(deadline)
		if err != nil {
			return err
		}
		switch {
		case len(m) == 0:
			s.stats.Unexpected++
		case m[0] == TypeAlert:
			return remoteAlert(m)
		case m[0] == TypeSignatureRequest && len(m) == 1:
			if err := s.cfg.Transport.Send(append([]byte{TypeGrantSignature}, s.cfg.Grant[grant.BodySize:]...)); err != nil {
				return err
			}
			// RSA on the device takes about a second (RSA-2048 at
			// 16 MHz): a fresh timeout, twice the estimate for this
			// board's clock on top of the usual one.
			bits := 8 * (len(s.cfg.Grant) - grant.BodySize)
			rsa := RSAWait(bits, s.cfg.FCPU)
			if s.cfg.Progress != nil {
				s.cfg.Progress(fmt.Sprintf("device verifying the grant (RSA-%d, about %.1f s)…", bits, rsa.Seconds()))
			}
			s.waited = s.cfg.timeout() + 2*RSAWait(max(bits, 2048), s.cfg.FCPU)
			cancel()
			deadline, cancel = context.WithTimeout(ctx, s.waited)
			defer cancel()
		case m[0] == RecordFinished:
			r, err := ParseRecord(m)
			if err != nil || r.Seq != 0 {
				s.stats.BadRecords++
				continue
			}
			if _, err := s.s2c.open(nil, m, r, finishedExtra(sh.Flags, sealTag)); err != nil {
				s.stats.BadRecords++
				continue // not from the device: keep waiting
			}
			s.nextOut, s.lastIn = 1, 0
			return nil
		default:
			s.stats.Unexpected++
		}
	}
}

// Grant returns the session's grant.
func (s *Session) Grant() *grant.Grant { return s.g }

// Cached reports whether the handshake skipped the RSA signature: the
// device had the grant verified already, or (SealOnly) takes it on its
// seal.
func (s *Session) Cached() bool { return s.cached }

// SealOnly reports whether the device verifies no RSA (seal-only MSSL,
// docs/mssl.md): it took a device-bound grant on its seal.
func (s *Session) SealOnly() bool { return s.noRSA }

// DeviceNonce returns the session's Nd (it names the session in key logs).
func (s *Session) DeviceNonce() [NonceSize]byte { return s.nd }

// Stats returns what the session dropped.
func (s *Session) Stats() ClientStats { return s.stats }

// send seals and sends one record.
func (s *Session) send(typ byte, pt []byte) error {
	if s.closed {
		return ErrClosed
	}
	seq := s.nextOut
	if seq == 0xffffffff {
		return errors.New("mssl: sequence numbers exhausted: reconnect")
	}
	s.nextOut++
	return s.cfg.Transport.Send(s.c2s.seal(nil, typ, seq, pt, nil))
}

// recvRecord waits (one timeout) for the next authenticated record from
// the device. Cleartext alerts are unauthenticated: they are counted and
// remembered, never acted on.
func (s *Session) recvRecord(ctx context.Context, clearAnswers bool) (byte, []byte, error) {
	deadline, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	for {
		m, err := s.cfg.Transport.Recv(deadline)
		if err != nil {
			return 0, nil, err
		}
		if len(m) == AlertSize && m[0] == TypeAlert {
			s.stats.ClearAlerts++
			s.lastClr, s.sawClr = Alert(m[1]), true
			if s.cfg.Observe != nil {
				s.cfg.Observe(Alert(m[1]))
			}
			if clearAnswers {
				return 0, nil, &AlertError{Code: Alert(m[1]), Remote: true}
			}
			continue
		}
		r, err := ParseRecord(m)
		if err != nil || r.Type == RecordFinished {
			s.stats.Unexpected++
			continue
		}
		if r.Seq <= s.lastIn {
			s.stats.Replayed++
			continue
		}
		pt, err := s.s2c.open(nil, m, r, nil)
		if err != nil {
			s.stats.BadRecords++
			continue
		}
		s.lastIn = r.Seq
		return r.Type, pt, nil
	}
}

func (s *Session) noAnswer() error {
	if s.sawClr {
		return fmt.Errorf("%w (it said %s in clear%s)", ErrNoAnswer, s.lastClr, hintFor(s.lastClr))
	}
	return ErrNoAnswer
}

func hintFor(a Alert) string {
	if a == AlertUnexpectedMessage {
		return ": the device has no session with this host any more, e.g. after a reset; reconnect"
	}
	return ""
}

// deviceAlert turns an authenticated alert record into an error; a
// fatal one ends the session.
func (s *Session) deviceAlert(pt []byte) error {
	if len(pt) != 1 {
		return fmt.Errorf("%w: alert record of %d bytes", ErrDecode, len(pt))
	}
	a := Alert(pt[0])
	if a == AlertCloseNotify || a == AlertRevoked || a == AlertExpired {
		s.closed = true
	}
	return &AlertError{Code: a, Remote: true}
}

// Task runs one task and returns the device's reply. A status other than
// ok is not an error here (the reply says it; StatusDenied means the grant
// does not permit the task). A task whose reply does not arrive is sent
// again in a new record (same request id), Retries times; the device runs
// it again, so a lost reply to a toggle toggles twice.
func (s *Session) Task(ctx context.Context, t tasks.Task, args []byte) (tasks.Reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqID++
	id := s.reqID
	req := tasks.AppendRequest(nil, t, id, args)
	if len(req) > MaxRecordPlaintext {
		return tasks.Reply{}, alertErr(AlertRecordOverflow, "task request of %d bytes", len(req))
	}
	s.sawClr = false
	for attempt := 0; attempt <= s.cfg.retries(); attempt++ {
		if attempt > 0 {
			s.stats.Retransmissions++
			s.cfg.logf("task %s: no answer within %v, retry %d/%d", t, s.cfg.timeout(), attempt+1, s.cfg.retries()+1)
		}
		if err := s.send(RecordData, req); err != nil {
			return tasks.Reply{}, err
		}
		for {
			typ, pt, err := s.recvRecord(ctx, false)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					break // retry
				}
				return tasks.Reply{}, err
			}
			switch typ {
			case RecordAlert:
				return tasks.Reply{}, s.deviceAlert(pt)
			case RecordData:
				r, err := tasks.ParseReply(pt)
				if err != nil {
					return tasks.Reply{}, fmt.Errorf("mssl: %w", err)
				}
				if r.ID != id {
					s.stats.Unexpected++ // a late reply to an earlier attempt
					continue
				}
				r.Result = append([]byte(nil), r.Result...)
				return r, nil
			default:
				s.stats.Unexpected++
			}
		}
	}
	return tasks.Reply{}, s.noAnswer()
}

// Floors are the device's floors after a floor statement.
type Floors struct {
	SerialFloor uint32
	TimeFloor   uint32
	// Ended is set when the statement revoked or expired this session's
	// own grant: the device ended the session.
	Ended Alert
}

// ErrFloorNeedsMAC: the device verifies no RSA and the floor statement
// carries no device MAC (make it with `grant revoke --device FILE`).
var ErrFloorNeedsMAC = errors.New("mssl: the device verifies no RSA (seal-only): the floor statement needs a device MAC")

// RaiseFloor delivers a floor statement (`mstool grant revoke`): its body
// in a record, then its signature in clear once the device asks for it;
// to a device without RSA (seal-only), body ‖ device MAC in one record.
// The device's authenticated answer gives its floors after the change.
func (s *Session) RaiseFloor(ctx context.Context, statement []byte) (Floors, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := ParseFloor(statement)
	if err != nil {
		return Floors{}, err
	}
	if s.noRSA {
		if f.MAC == nil {
			return Floors{}, ErrFloorNeedsMAC
		}
		if err := s.send(RecordFloor, append(f.Body(), f.MAC...)); err != nil {
			return Floors{}, err
		}
		pt, err := s.floorAnswer(ctx, false)
		if err != nil {
			return Floors{}, err
		}
		return s.floorsNow(pt)
	}
	if err := s.send(RecordFloor, statement[:FloorBodySize]); err != nil {
		return Floors{}, err
	}
	pt, err := s.floorAnswer(ctx, false)
	if err != nil {
		return Floors{}, err
	}
	if len(pt) != 1 || pt[0] != floorStatusSendSig {
		return Floors{}, fmt.Errorf("%w: floor answer of %d bytes", ErrDecode, len(pt))
	}
	if err := s.cfg.Transport.Send(append([]byte{TypeFloorSignature}, f.Signature...)); err != nil {
		return Floors{}, err
	}
	deadline, cancel := context.WithTimeout(ctx, s.cfg.timeout()+2*time.Second)
	defer cancel()
	// The answer to the signature may be a cleartext bad_signature.
	pt, err = s.floorAnswer(deadline, true)
	if err != nil {
		return Floors{}, err
	}
	return s.floorsNow(pt)
}

// floorsNow reads the device's final floor answer.
func (s *Session) floorsNow(pt []byte) (Floors, error) {
	if len(pt) != floorReplySize || pt[0] != floorStatusDone {
		return Floors{}, fmt.Errorf("%w: floor answer of %d bytes", ErrDecode, len(pt))
	}
	out := Floors{SerialFloor: uint32(pt[1])<<24 | uint32(pt[2])<<16 | uint32(pt[3])<<8 | uint32(pt[4]),
		TimeFloor: uint32(pt[5])<<24 | uint32(pt[6])<<16 | uint32(pt[7])<<8 | uint32(pt[8])}
	if s.g.Serial < out.SerialFloor {
		out.Ended, s.closed = AlertRevoked, true
	} else if s.g.NotAfter < out.TimeFloor {
		out.Ended, s.closed = AlertExpired, true
	}
	return out, nil
}

// floorAnswer waits for the device's Floor record; a cleartext alert
// (bad_signature after the RSA check) is the answer to the signature.
func (s *Session) floorAnswer(ctx context.Context, clearAnswers bool) ([]byte, error) {
	for {
		typ, pt, err := s.recvRecord(ctx, clearAnswers)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, s.noAnswer()
			}
			return nil, err
		}
		switch typ {
		case RecordAlert:
			return nil, s.deviceAlert(pt)
		case RecordFloor:
			return pt, nil
		}
		s.stats.Unexpected++
	}
}

// Close ends the session with close_notify and waits (one timeout) for the
// device's close_notify. It closes the transport.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.cfg.Transport.Close()
	if s.closed {
		return nil
	}
	if err := s.send(RecordAlert, []byte{byte(AlertCloseNotify)}); err != nil {
		return err
	}
	s.closed = true
	for {
		typ, pt, err := s.recvRecord(ctx, false)
		if err != nil {
			return fmt.Errorf("mssl: close: %w", err)
		}
		if typ == RecordAlert && len(pt) == 1 && Alert(pt[0]) == AlertCloseNotify {
			return nil
		}
	}
}
