package espsession

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/seqstate"
)

// OpenConfig says what Open assembles a session from.
type OpenConfig struct {
	// SAs is the host's SA file, read from SAPath; the sequence state is
	// kept next to it (seqstate.Open(SAPath)).
	SAs    *safile.File
	SAPath string
	// Port is the device's serial port, or UDP its HOST:PORT for ESP in
	// UDP between the outbound SA's encapsulation ports; exactly one.
	Port, UDP string
	// Link configures the link (reset, recorder).
	Link link.Options
	// Timeout and Retries as in Config.
	Timeout time.Duration
	Retries int
	// Log and Trace, when set, are given to the link (unless Link sets
	// its own), the session and its management channel: mstool -v and
	// -vv (Config.Log, link.Options.Trace).
	Log   func(msg string)
	Trace func(dir string, frame []byte)
	// Inner as in Config.
	Inner func(pkt []byte)
}

// Step names the part of Open that failed.
type Step int

const (
	StepState   Step = iota + 1 // seqstate.Open
	StepSerial                  // link.OpenSerial
	StepUDP                     // link.DialUDP
	StepSession                 // New
)

// OpenError reports which step of Open failed, wrapping its error.
type OpenError struct {
	Step Step
	Err  error
}

func (e *OpenError) Error() string { return e.Err.Error() }
func (e *OpenError) Unwrap() error { return e.Err }

// Conn is a session with the link and sequence state Open made for it.
type Conn struct {
	*Session
	Link   link.Link
	Serial *link.Serial // the link over a serial port; nil over UDP
	State  *seqstate.State
}

// Open locks and reads the sequence state of cfg.SAPath, opens the link
// and starts a session on it, with the device's management channel when the
// link is a serial port. On error it closes what it opened and returns an
// *OpenError.
func Open(cfg OpenConfig) (*Conn, error) {
	if (cfg.Port == "") == (cfg.UDP == "") {
		return nil, errors.New("espsession: give exactly one of a serial port and a UDP address")
	}
	if cfg.Link.Log == nil {
		cfg.Link.Log = cfg.Log
	}
	if cfg.Link.Trace == nil {
		cfg.Link.Trace = cfg.Trace
	}
	c := &Conn{}
	fail := func(step Step, err error) (*Conn, error) {
		if c.Link != nil {
			c.Link.Close()
		}
		if c.State != nil {
			c.State.Close()
		}
		return nil, &OpenError{Step: step, Err: err}
	}
	st, err := seqstate.Open(cfg.SAPath)
	if err != nil {
		return fail(StepState, err)
	}
	c.State = st
	if cfg.Port != "" {
		s, err := link.OpenSerial(cfg.Port, &cfg.Link)
		if err != nil {
			return fail(StepSerial, err)
		}
		c.Link, c.Serial = s, s
	} else {
		if len(cfg.SAs.Outbound) != 1 || cfg.SAs.Outbound[0].Encap == nil {
			return fail(StepUDP, fmt.Errorf("%w: ESP in UDP needs one outbound SA with UDP encapsulation", ErrSAFile))
		}
		out := cfg.SAs.Outbound[0]
		ends := link.Endpoints{Local: netip.AddrPortFrom(out.Src, out.Encap.SrcPort), Remote: netip.AddrPortFrom(out.Dst, out.Encap.DstPort)}
		u, err := link.DialUDP(cfg.UDP, ends, &cfg.Link)
		if err != nil {
			return fail(StepUDP, err)
		}
		c.Link = u
	}
	sc := Config{SAs: cfg.SAs, State: st, Link: c.Link, Timeout: cfg.Timeout, Retries: cfg.Retries, Log: cfg.Log, Trace: cfg.Trace, Inner: cfg.Inner}
	if c.Serial != nil {
		sc.Management = c.Serial.Management()
	}
	if c.Session, err = New(sc); err != nil {
		return fail(StepSession, err)
	}
	return c, nil
}

// Close stops the session, saves the sequence state and closes the link.
func (c *Conn) Close() error {
	err := c.Session.Close()
	c.Link.Close()
	if cerr := c.State.Close(); err == nil {
		err = cerr
	}
	return err
}
