package bootstrap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Controller is the controller's identity towards the server.
type Controller struct {
	ID   uint32
	SKcs [KeySize]byte
}

// JoinConfig is what a join needs besides the label.
type JoinConfig struct {
	Controller Controller
	Server     net.Conn // to the server (UDP, connected)
	Device     net.Conn // to the device (UDP, connected)

	Timeout time.Duration    // per try; zero: 500 ms
	Tries   int              // per flight; zero: 6
	Rand    io.Reader        // zero: crypto/rand
	Now     func() time.Time // zero: time.Now
	// Progress, when set, is told as each flight completes.
	Progress func(flight int)
}

// JoinResult is what a completed join established.
type JoinResult struct {
	Device uint32
	TID    TID
	Base   int           // which of flight 3's keys the device held (0: the confirmed key)
	Bases  int           // how many flight 3 carried
	PSK    [KeySize]byte // the device's new key (its master key from now on)
}

// TimeoutError reports a peer that never answered.
type TimeoutError struct{ Peer string }

func (e *TimeoutError) Error() string { return "bootstrap: no answer from the " + e.Peer }

// Join runs flights 2 to 7 for the device of label l: it asks the server
// for the device's keys, re-keys the device, and has the server commit
// the device's proof. The server's flights are checked under SK_cs, the
// device's under the derived PSK; anything else on either link is ignored.
func Join(ctx context.Context, cfg *JoinConfig, l Label) (*JoinResult, error) {
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	progress := func(int) {}
	if cfg.Progress != nil {
		progress = cfg.Progress
	}
	j := &JoinRequest{Controller: cfg.Controller.ID, TS: uint64(now().Unix()), Device: l.Device, RNi: l.RNi}
	if _, err := io.ReadFull(rnd, j.TID[:]); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := io.ReadFull(rnd, j.RNc[:]); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	defer clear(j.RNc[:])
	sk := cfg.Controller.SKcs
	progress(1)

	// Flights 2 and 3.
	var keys *Keys
	var serr *ServerError
	_, err := exchange(ctx, cfg, cfg.Server, "server", MarshalJoin(sk, j), func(resp []byte) bool {
		h, err := ParseHeader(resp)
		if err != nil || h.ID != j.Controller || h.TID != j.TID {
			return false
		}
		if _, e, err := OpenError(sk, resp); err == nil {
			serr = e
			return true
		}
		k, err := OpenKeys(sk, resp)
		if err != nil || k.TS != j.TS || k.Device != j.Device {
			return false
		}
		keys = k
		return true
	})
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	defer func() {
		for i := range keys.Keys {
			clear(keys.Keys[i][:])
		}
	}()
	progress(3)

	// Flights 4 and 5, with each base key in turn.
	res := &JoinResult{Device: l.Device, TID: j.TID, Bases: len(keys.Keys)}
	var proof []byte
	var last error
	for b, key := range keys.Keys {
		psk := DerivePSK(key, l.RNi, j.RNc)
		var nak *NAKError
		_, err := exchange(ctx, cfg, cfg.Device, "device", MarshalRekey(key, l.Device, j.TID, l.RNi, j.RNc), func(resp []byte) bool {
			// A NAK names the device that sent it (another one's for
			// NAKNotMine) and echoes the TID.
			if h, code, err := ParseNAK(resp); err == nil && h.TID == j.TID {
				nak = &NAKError{Code: code, Device: h.ID}
				return true
			}
			if OpenProof(psk, resp, l.Device, j.TID, j.RNc) == nil {
				proof = append([]byte(nil), resp...)
				return true
			}
			return false
		})
		if err != nil {
			clear(psk[:])
			return nil, err
		}
		if proof != nil {
			res.Base, res.PSK = b, psk
			break
		}
		clear(psk[:])
		last = nak
		if nak.Code != NAKAuth {
			break // only a wrong key is worth another base
		}
	}
	if proof == nil {
		return nil, last
	}
	progress(5)

	// Flights 6 and 7. As at flight 3, a reply of another transaction is
	// not this one's: every error reply of this controller authenticates
	// under SK_cs, and a recorded one must not fail a join the server
	// committed.
	serr = nil
	done := false
	_, err = exchange(ctx, cfg, cfg.Server, "server", MarshalConfirm(sk, &Confirm{Controller: j.Controller, TID: j.TID, Device: l.Device, RNc: j.RNc, Proof: proof}), func(resp []byte) bool {
		h, err := ParseHeader(resp)
		if err != nil || h.ID != j.Controller || h.TID != j.TID {
			return false
		}
		if _, e, err := OpenError(sk, resp); err == nil {
			serr = e
			return true
		}
		_, dev, status, err := OpenDone(sk, resp)
		if err != nil || dev != l.Device || status != StatusCommitted {
			return false
		}
		done = true
		return true
	})
	if err != nil {
		return res, fmt.Errorf("%w (the device holds the new key; the server keeps it as pending and offers it at the next join)", err)
	}
	if !done {
		return res, serr
	}
	progress(7)
	return res, nil
}

// exchange sends req on conn and waits for a reply accept likes,
// retransmitting the same bytes on timeout.
func exchange(ctx context.Context, cfg *JoinConfig, conn net.Conn, peer string, req []byte, accept func([]byte) bool) ([]byte, error) {
	timeout, tries := cfg.Timeout, cfg.Tries
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	if tries <= 0 {
		tries = 6
	}
	buf := make([]byte, MaxMessageSize+1)
	for range tries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := conn.Write(req); err != nil && !isRefused(err) {
			return nil, fmt.Errorf("bootstrap: %s: %w", peer, err)
		}
		deadline := time.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetReadDeadline(deadline)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				if isRefused(err) {
					time.Sleep(time.Until(deadline))
					break
				}
				return nil, fmt.Errorf("bootstrap: %s: %w", peer, err)
			}
			if n <= MaxMessageSize && accept(buf[:n]) {
				return buf[:n], nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, &TimeoutError{Peer: peer}
}

// isRefused: a UDP peer not (yet) listening answers ICMP port unreachable.
func isRefused(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && (oe.Op == "read" || oe.Op == "write") && errors.Is(err, errConnRefused)
}
