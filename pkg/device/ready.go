package device

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Reset says what opening a serial port does to the board behind it, and
// so whether the host must wait before its first request (Options.Reset).
//
// An Arduino Uno or Nano resets whenever the host opens its port (DTR,
// through a capacitor, pulls RESET low: the "auto-reset"), and its
// bootloader then runs for up to a second and swallows the first bytes.
// avrdude and esptool wait for the board after opening; so does mstool.
type Reset int

const (
	// ResetAuto: opening the port may reset the board. Open waits until
	// the firmware answers IDENTIFY, sending one every ProbeInterval, for
	// up to Options.ReadyWait (DefaultReadyWait); it returns as soon as
	// the device answers, so a board that does not reset costs one round
	// trip. The zero value.
	ResetAuto Reset = iota
	// ResetNever: the port does not reset the board (no auto-reset, or it
	// is disabled): the first request goes out at once, as before the
	// wait existed. Also for a peer that has no management channel.
	ResetNever
)

// Timing of the readiness wait.
const (
	// DefaultReadyWait bounds the wait for a board that resets when its
	// port opens: optiboot's own timeout is 1 s, the old ATmegaBOOT's
	// longer; an answer ends the wait at once.
	DefaultReadyWait = 3 * time.Second
	// ProbeInterval is how long one IDENTIFY waits for its answer before
	// the next is sent. A bootloader gives up on bytes that are not its
	// protocol (optiboot within 16 ms) and starts the application, which
	// answers the next one.
	ProbeInterval = 250 * time.Millisecond
)

// ResetNames are the names ParseReset accepts, in documentation order.
var ResetNames = []string{"auto", "never"}

func (r Reset) String() string {
	switch r {
	case ResetAuto:
		return "auto"
	case ResetNever:
		return "never"
	}
	return fmt.Sprintf("Reset(%d)", int(r))
}

// ParseReset returns the Reset called name ("auto" or "never").
func ParseReset(name string) (Reset, error) {
	for i, n := range ResetNames {
		if n == name {
			return Reset(i), nil
		}
	}
	return 0, fmt.Errorf("device: unknown reset mode %q (known: auto, never)", name)
}

// WaitReady sends IDENTIFY every ProbeInterval until the device answers,
// for at most within (DefaultReadyWait if not positive), and returns nil
// at the first answer: a reply, or an error reply (a device that refuses
// IDENTIFY is there all the same). Bytes the bootloader or the starting
// firmware sent meanwhile are discarded. After within it returns an
// error wrapping ErrNoAnswer; a read error of the port or ctx's error end
// it early.
func (d *Device) WaitReady(ctx context.Context, within time.Duration) error {
	if within <= 0 {
		within = DefaultReadyWait
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	start := time.Now()
	deadline := start.Add(within)
	d.opts.logf("waiting up to %v for the device to answer IDENTIFY (the board may reset when its port opens)", within)
	for probe := 1; ; probe++ {
		left := time.Until(deadline)
		if left <= 0 {
			d.opts.logf("no answer to %d IDENTIFY probes within %v", probe-1, within)
			return fmt.Errorf("%w: nothing answered IDENTIFY within %v of opening the port", ErrNoAnswer, within)
		}
		d.seq++
		if err := d.send(cmdIdentify, d.seq, nil); err != nil {
			return err
		}
		wait := min(ProbeInterval, left)
		_, err := d.await(ctx, cmdIdentify, d.seq, wait)
		var re *RemoteError
		switch {
		case err == nil, errors.As(err, &re):
			d.opts.logf("device ready: answered IDENTIFY probe %d after %v", probe, time.Since(start).Round(time.Millisecond))
			return nil
		case !errors.Is(err, ErrNoAnswer):
			return err
		}
		d.opts.logf("IDENTIFY probe %d: no answer within %v", probe, wait)
	}
}
