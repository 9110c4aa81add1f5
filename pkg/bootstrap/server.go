package bootstrap

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWindow is how far a flight 2's TS may be from the server's clock.
const DefaultWindow = 60 * time.Second

// Stats counts what a server did. Drops are silent: nothing is sent for a
// message that does not authenticate or is not fresh.
type Stats struct {
	Joins           atomic.Uint64 // flights 2 answered with keys
	Commits         atomic.Uint64 // flights 6 that committed a new key
	Errors          atomic.Uint64 // authenticated error replies sent
	Resent          atomic.Uint64 // byte-identical retransmissions answered from the cache
	DropMalformed   atomic.Uint64 // not a flight, wrong length or type
	DropUnknownCtl  atomic.Uint64 // no SK_cs for the controller id
	DropAuth        atomic.Uint64 // did not authenticate under SK_cs
	DropStale       atomic.Uint64 // TS outside the window
	DropReplay      atomic.Uint64 // a TID seen before, with other content
	DropUnknownTID  atomic.Uint64 // flight 6 without a live flight 2
	DropWrongDevice atomic.Uint64 // flight 6 for another device or RN_c than its flight 2
}

// Snapshot returns the counters by name (for --json).
func (s *Stats) Snapshot() map[string]uint64 {
	return map[string]uint64{
		"joins": s.Joins.Load(), "commits": s.Commits.Load(), "errors": s.Errors.Load(), "resent": s.Resent.Load(),
		"drop_malformed": s.DropMalformed.Load(), "drop_unknown_controller": s.DropUnknownCtl.Load(),
		"drop_auth": s.DropAuth.Load(), "drop_stale": s.DropStale.Load(), "drop_replay": s.DropReplay.Load(),
		"drop_unknown_tid": s.DropUnknownTID.Load(), "drop_wrong_device": s.DropWrongDevice.Load(),
	}
}

// Server is the authentication server (the paper's SBS). Handle is safe
// for concurrent use.
type Server struct {
	Repo        *Repository
	Controllers map[uint32][KeySize]byte // SK_cs by controller id
	Window      time.Duration            // zero: DefaultWindow
	Now         func() time.Time         // zero: time.Now
	Stats       Stats
	// Log, when set, is told about every join and commit (device id,
	// controller id, event); the library never prints.
	Log func(event string, device, controller uint32)
	// LogError, when set, is told why the repository failed a flight
	// (the controller sees no answer to a flight 2, error 3 to a flight 6).
	LogError func(device, controller uint32, err error)

	mu    sync.Mutex
	cache map[txKey]*tx
	swept time.Time
	// latest: each device's last answered flight 2 (confirm commits
	// only that join's key)
	latest map[uint32]txKey
}

type txKey struct {
	ctl uint32
	tid TID
}

// tx is what the server remembers of one transaction for 2×Window: the
// requests it answered and the replies, so that a retransmission gets the
// same bytes and anything else under the TID is refused.
type tx struct {
	at          time.Time
	req2, resp2 []byte
	req6, resp6 []byte
	device      uint32
	rnc         [RNSize]byte
	keys        bool // resp2 is a flight 3 (not an error reply)
	busy        sync.Mutex
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) window() time.Duration {
	if s.Window > 0 {
		return s.Window
	}
	return DefaultWindow
}

func (s *Server) log(event string, device, ctl uint32) {
	if s.Log != nil {
		s.Log(event, device, ctl)
	}
}

func (s *Server) logError(device, ctl uint32, err error) {
	if s.LogError != nil {
		s.LogError(device, ctl, err)
	}
}

// lookup finds or makes the transaction of a header, sweeping expired ones.
func (s *Server) lookup(k txKey, create bool) *tx {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cache == nil {
		s.cache = map[txKey]*tx{}
	}
	if now.Sub(s.swept) > time.Second {
		keep := 2*s.window() + time.Second
		for key, t := range s.cache {
			if now.Sub(t.at) > keep {
				delete(s.cache, key)
			}
		}
		s.swept = now
	}
	t := s.cache[k]
	if t == nil && create {
		t = &tx{at: now}
		s.cache[k] = t
	}
	return t
}

// Handle answers one message from a controller; nil means send nothing.
func (s *Server) Handle(msg []byte) []byte {
	h, err := ParseHeader(msg)
	if err != nil {
		s.Stats.DropMalformed.Add(1)
		return nil
	}
	skcs, ok := s.Controllers[h.ID]
	if !ok {
		s.Stats.DropUnknownCtl.Add(1)
		return nil
	}
	switch h.Type {
	case TypeJoin:
		return s.join(skcs, h, msg)
	case TypeConfirm:
		return s.confirm(skcs, h, msg)
	}
	s.Stats.DropMalformed.Add(1)
	return nil
}

// dropOpenError counts a flight that did not open: forged or under another
// key (ErrAuth), or malformed.
func (s *Server) dropOpenError(err error) {
	if errors.Is(err, ErrAuth) {
		s.Stats.DropAuth.Add(1)
	} else {
		s.Stats.DropMalformed.Add(1)
	}
}

func (s *Server) join(skcs [KeySize]byte, h Header, msg []byte) []byte {
	// Authenticate before touching the transaction table, so that forged
	// flights cannot fill it.
	j, err := OpenJoin(skcs, msg)
	if err != nil {
		s.dropOpenError(err)
		return nil
	}
	defer clear(j.RNi[:])
	now := s.now()
	ts := time.Unix(int64(j.TS), 0)
	if j.TS > 1<<62 || ts.Before(now.Add(-s.window())) || ts.After(now.Add(s.window())) {
		s.Stats.DropStale.Add(1)
		return nil
	}
	t := s.lookup(txKey{h.ID, h.TID}, true)
	t.busy.Lock()
	defer t.busy.Unlock()
	if t.req2 != nil {
		if equal(t.req2, msg) {
			s.Stats.Resent.Add(1)
			return append([]byte(nil), t.resp2...)
		}
		s.Stats.DropReplay.Add(1)
		return nil
	}
	// A flight 2 is answered only once the repository records its
	// transaction (Repository.Answer): in RAM alone, a restarted server
	// would answer a replayed one again under the same nonce.
	var forget uint64
	if f := now.Add(-s.window() - time.Second).Unix(); f > 0 {
		forget = uint64(f)
	}
	var bases [][KeySize]byte
	defer func() {
		for i := range bases {
			clear(bases[i][:])
		}
	}()
	err = s.Repo.Answer(h.ID, h.TID, j.TS, forget, j.Device, func(e *Entry) error {
		bases = append([][KeySize]byte{e.Key}, e.Pending...)
		next := make([][KeySize]byte, 0, len(bases)+len(e.Pending))
		for _, b := range bases {
			next = append(next, DerivePSK(b, j.RNi, j.RNc))
		}
		e.Pending = append(next, e.Pending...)
		return nil
	})
	switch {
	case errors.Is(err, ErrAnswered):
		s.Stats.DropReplay.Add(1)
		return nil
	case err != nil && !errors.Is(err, ErrUnknownDevice):
		// not recorded: no answer (see above); a retransmission tries again
		s.Stats.Errors.Add(1)
		s.logError(j.Device, h.ID, err)
		return nil
	}
	t.req2 = append([]byte(nil), msg...)
	t.device, t.rnc = j.Device, j.RNc
	if err != nil { // ErrUnknownDevice
		t.resp2 = MarshalError(skcs, h.ID, h.TID, CodeUnknownDevice)
		s.Stats.Errors.Add(1)
	} else {
		s.mu.Lock()
		if s.latest == nil {
			s.latest = map[uint32]txKey{}
		}
		s.latest[j.Device] = txKey{h.ID, h.TID}
		s.mu.Unlock()
		t.keys = true
		t.resp2 = MarshalKeys(skcs, &Keys{Controller: h.ID, TID: h.TID, TS: j.TS, Device: j.Device, Keys: bases})
		s.Stats.Joins.Add(1)
		s.log("join", j.Device, h.ID)
	}
	return append([]byte(nil), t.resp2...)
}

func (s *Server) confirm(skcs [KeySize]byte, h Header, msg []byte) []byte {
	c, err := OpenConfirm(skcs, msg)
	if err != nil {
		s.dropOpenError(err)
		return nil
	}
	t := s.lookup(txKey{h.ID, h.TID}, false)
	if t == nil {
		s.Stats.DropUnknownTID.Add(1)
		return nil
	}
	t.busy.Lock()
	defer t.busy.Unlock()
	// A flight 2 answered with an error (device not enrolled) has no
	// join to confirm, and its error reply took the TID's only error
	// nonce (0f ‖ controller ‖ TID): a second error would reuse it.
	if t.req2 == nil || !t.keys {
		s.Stats.DropUnknownTID.Add(1)
		return nil
	}
	if t.req6 != nil {
		if equal(t.req6, msg) {
			s.Stats.Resent.Add(1)
			return append([]byte(nil), t.resp6...)
		}
		s.Stats.DropReplay.Add(1)
		return nil
	}
	if c.Device != t.device || !equal(c.RNc[:], t.rnc[:]) {
		s.Stats.DropWrongDevice.Add(1)
		return nil
	}
	t.req6 = append([]byte(nil), msg...)
	// Only the device's latest join commits. A later join may have moved
	// the device on from this one's key (its flight 4 was derived from the
	// pending keys, this one's among them): committing this one would
	// clear the later key from pending and lose the device. Refused, the
	// pending keys stay, and the later join's flight 6, or the next join,
	// commits the key the device holds.
	s.mu.Lock()
	stale := s.latest[c.Device] != txKey{h.ID, h.TID}
	s.mu.Unlock()
	if stale {
		t.resp6 = MarshalError(skcs, h.ID, h.TID, CodeNotCommitted)
		s.Stats.Errors.Add(1)
		return append([]byte(nil), t.resp6...)
	}
	matched := false
	err = s.Repo.Update(c.Device, func(e *Entry) error {
		for _, p := range e.Pending {
			if OpenProof(p, c.Proof, c.Device, h.TID, c.RNc) == nil {
				e.Key, e.Gen, e.Pending, e.SAsIssued, matched = p, e.Gen+1, nil, false, true
				return nil
			}
		}
		return errNoMatch
	})
	switch {
	case matched:
		t.resp6 = MarshalDone(skcs, h.ID, h.TID, c.Device, StatusCommitted)
		s.Stats.Commits.Add(1)
		s.log("commit", c.Device, h.ID)
	case errors.Is(err, errNoMatch):
		t.resp6 = MarshalError(skcs, h.ID, h.TID, CodeNotCommitted)
		s.Stats.Errors.Add(1)
	default:
		t.resp6 = MarshalError(skcs, h.ID, h.TID, CodeRepository)
		s.Stats.Errors.Add(1)
		s.logError(c.Device, h.ID, err)
	}
	return append([]byte(nil), t.resp6...)
}

var errNoMatch = errors.New("bootstrap: no candidate key opens the proof")

// MaxMessageSize is the largest flight on either link.
const MaxMessageSize = 256

// Serve answers controllers on conn until ctx is done; it then closes
// conn and returns nil once every message in hand is answered.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	return servePackets(ctx, conn, s.Handle)
}

// ServeDevice runs a device's bootstrap endpoint on conn (the UDP device
// link) until ctx is done.
func ServeDevice(ctx context.Context, conn net.PacketConn, d *Device) error {
	return servePackets(ctx, conn, d.Handle)
}

func servePackets(ctx context.Context, conn net.PacketConn, handle func([]byte) []byte) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 64)
	for {
		buf := make([]byte, MaxMessageSize+1)
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if n > MaxMessageSize {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if resp := handle(buf[:n]); resp != nil {
				conn.WriteTo(resp, addr)
			}
		}()
	}
}
