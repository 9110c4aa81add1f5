package mssl

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/mstool/mstool/pkg/device"
)

// Silence says why a device gave no MSSL answer, as its management channel
// (IDENTIFY, STATUS) tells it.
type Silence int

const (
	// SilenceUnexplained: the device answers its management channel and
	// nothing there explains why it does not answer MSSL.
	SilenceUnexplained Silence = iota
	// SilenceNoIPStack: the firmware has no IPv4 stack (IDENTIFY bit 4).
	SilenceNoIPStack
	// SilenceNoMSSL: the firmware has no MSSL (IDENTIFY bit 7 clear;
	// firmware older than the bit leaves it clear too).
	SilenceNoMSSL
	// SilenceUnprovisioned: the device's configuration failed its checks
	// (STATUS says why); it runs no MSSL service.
	SilenceUnprovisioned
	// SilenceWrongAddress: the device's address is another one; it
	// drops packets sent to any other address.
	SilenceWrongAddress
	// SilenceNoIssuer: the device holds no grant issuer key; it runs no
	// MSSL service.
	SilenceNoIssuer
)

// NoAnswerError is ErrNoAnswer (errors.Is) explained by the device's
// management channel: Config.Management was set and the device answered
// there.
type NoAnswerError struct {
	Cause Silence
	// Sent is the address the handshake went to (invalid when the
	// transport does not say).
	Sent netip.Addr
	// Addr is the device's own address from STATUS (invalid when
	// unprovisioned, or when STATUS did not answer).
	Addr          netip.Addr
	MCU, Firmware string // from IDENTIFY
	Reason        string // why the device is unprovisioned (STATUS)
}

func (e *NoAnswerError) Error() string {
	dev := fmt.Sprintf("%s, firmware %s", e.MCU, e.Firmware)
	switch e.Cause {
	case SilenceNoIPStack:
		return fmt.Sprintf("mssl: no answer from the device: its firmware (%s) has no IP stack", dev)
	case SilenceNoMSSL:
		return fmt.Sprintf("mssl: no answer from the device: MSSL is not built in its firmware (%s; IDENTIFY has no mssl option)", dev)
	case SilenceUnprovisioned:
		return fmt.Sprintf("mssl: no answer from the device: it is unprovisioned (%s) and runs no MSSL service (%s)", e.Reason, dev)
	case SilenceWrongAddress:
		return fmt.Sprintf("mssl: no answer at %s: the device's address is %s, not %s (%s)", e.Sent, e.Addr, e.Sent, dev)
	case SilenceNoIssuer:
		return fmt.Sprintf("mssl: no answer from the device at %s: its configuration holds no grant issuer key, so it runs no MSSL service (%s)", e.Addr, dev)
	}
	return fmt.Sprintf("mssl: no answer from the device at %s: it answers its management channel but not MSSL (%s)", e.Addr, dev)
}

// Is makes errors.Is(err, ErrNoAnswer) true.
func (e *NoAnswerError) Is(target error) bool { return target == ErrNoAnswer }

// remoteAddr is implemented by transports that know the device's address
// (Link).
type remoteAddr interface{ Remote() netip.AddrPort }

// Diagnose asks the device over its management channel (IDENTIFY, then
// STATUS) why it gave no MSSL answer at sent (invalid: not known). It
// returns a *NoAnswerError, or nil when the management channel does not
// answer either.
func Diagnose(ctx context.Context, mgmt device.Conn, sent netip.Addr) error {
	d, err := device.New(mgmt, &device.Options{Timeout: time.Second, Retries: -1})
	if err != nil {
		return nil
	}
	info, err := d.Identify(ctx)
	if err != nil {
		return nil
	}
	e := &NoAnswerError{Sent: sent, MCU: info.MCU, Firmware: info.Firmware}
	switch {
	case info.Options&device.OptIPStack == 0:
		e.Cause = SilenceNoIPStack
		return e
	case info.Options&device.OptMSSL == 0:
		e.Cause = SilenceNoMSSL
		return e
	}
	st, err := d.Status(ctx)
	switch {
	case err != nil:
		if info.Options&device.OptProvisioned == 0 {
			e.Cause, e.Reason = SilenceUnprovisioned, "STATUS did not answer"
		}
		return e
	case !st.Provisioned || info.Options&device.OptProvisioned == 0:
		e.Cause, e.Reason = SilenceUnprovisioned, st.ReasonText
		return e
	}
	e.Addr = st.Addr
	switch {
	case sent.IsValid() && st.Addr.IsValid() && sent.Unmap() != st.Addr.Unmap():
		e.Cause = SilenceWrongAddress
	case !st.HasIssuer():
		e.Cause = SilenceNoIssuer
	}
	return e
}
