package mssl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/link"
)

// TransportConfig says how OpenTransport reaches a device: exactly one of
// UDP, TCP and Port.
type TransportConfig struct {
	UDP  string // HOST:PORT of MSSL on UDP
	TCP  string // HOST:PORT of MSSL framed on a TCP stream
	Port string // a serial port: MSSL in UDP/IPv4 over the device's link

	// For Port: the device's IPv4 address (MSSL on its Port), this
	// host's address and UDP port, and the link's options. An unset
	// Device is the address the device reports (STATUS, on its
	// management channel); an unset Local address is Grant's bound host
	// address; an unset Local port is LocalPort().
	Device netip.Addr
	Local  netip.AddrPort
	Grant  *grant.Grant
	Link   link.Options

	// NoIdentify skips the IDENTIFY probe after a serial port opens (the
	// handshake then waits as for a 16 MHz device).
	NoIdentify bool

	// Log, when set, is told of the transport's events (the port opened,
	// IDENTIFY's answer), and is the link's Log unless Link sets one:
	// mstool -v. Trace, when set, is given the management frames of the
	// IDENTIFY probe: mstool -vv.
	Log   func(msg string)
	Trace func(dir string, frame []byte)

	Timeout time.Duration // for TCP: how long to wait for the connection
}

func (c *TransportConfig) logf(format string, a ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, a...))
	}
}

// LocalPort is the UDP port this host uses on a serial link by default:
// one of the dynamic ports (49152..65535) chosen by the process ID, so
// that two sessions from one host differ.
func LocalPort() uint16 { return uint16(49152 + os.Getpid()%16384) }

// SerialTransport is MSSL over a serial port. Close closes the port too.
type SerialTransport struct {
	*Link
	Serial *link.Serial // the port; its Management goes in Config.Management
	// Info is the device's answer to IDENTIFY after the port opened (nil:
	// no answer, or TransportConfig.NoIdentify); its FCPU goes in
	// Config.FCPU.
	Info *device.Info
}

// Close stops the transport and closes the port.
func (t *SerialTransport) Close() error {
	t.Link.Close()
	if t.Serial == nil {
		return nil
	}
	return t.Serial.Close()
}

// serialTransport lets Dial find a *SerialTransport, also inside a type
// that embeds one.
func (t *SerialTransport) serialTransport() *SerialTransport { return t }

type serialTransporter interface{ serialTransport() *SerialTransport }

// OpenTransport opens the transport cfg names: a *Packet for UDP, a
// *Stream for TCP, a *SerialTransport for Port. Errors from the serial
// port are link.OpenSerial's (device.ErrNoAnswer when the device did not
// answer after a reset).
//
// On a serial port it then asks the device's management channel for
// IDENTIFY (unless NoIdentify): Dial uses the answer's clock to scale its
// wait for the device's RSA verification of the grant (RSAWait), and the
// management channel to diagnose a handshake without answer. A device that
// does not answer is assumed to run at 16 MHz.
func OpenTransport(ctx context.Context, cfg TransportConfig) (Transport, error) {
	n := 0
	for _, s := range []string{cfg.UDP, cfg.TCP, cfg.Port} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("mssl: give exactly one of a UDP address, a TCP address and a serial port")
	}
	switch {
	case cfg.UDP != "":
		t, err := DialUDP(cfg.UDP)
		if err != nil {
			return nil, err
		}
		return t, nil
	case cfg.TCP != "":
		d := net.Dialer{Timeout: cfg.Timeout}
		conn, err := d.DialContext(ctx, "tcp", cfg.TCP)
		if err != nil {
			return nil, fmt.Errorf("mssl: %w", err)
		}
		return NewStream(conn), nil
	}
	if cfg.Device.IsValid() && !cfg.Device.Is4() {
		return nil, errors.New("mssl: over a serial port, the device's address is an IPv4 address")
	}
	local := cfg.Local
	host := local.Addr()
	if !host.IsValid() && cfg.Grant != nil {
		host = cfg.Grant.HostIP
	}
	if !host.Is4() {
		return nil, errors.New("mssl: over a serial port, this host's IPv4 address is needed (the grant binds none)")
	}
	port := local.Port()
	if port == 0 {
		port = LocalPort()
	}
	if cfg.Link.Log == nil {
		cfg.Link.Log = cfg.Log
	}
	t0 := time.Now()
	l, err := link.OpenSerial(cfg.Port, &cfg.Link)
	if err != nil {
		return nil, err
	}
	cfg.logf("port %s opened in %.1f s (reset %s)", cfg.Port, time.Since(t0).Seconds(), cfg.Link.Reset)
	if !cfg.Device.IsValid() {
		if cfg.Device, err = deviceAddr(ctx, &cfg, l); err != nil {
			l.Close()
			return nil, err
		}
	}
	st := &SerialTransport{Link: NewLink(l, netip.AddrPortFrom(host, port), netip.AddrPortFrom(cfg.Device, Port)), Serial: l}
	if !cfg.NoIdentify {
		st.Info = identify(ctx, &cfg, l)
	}
	return st, nil
}

// ErrNoAddress is OpenTransport's error for a device, reached on a serial
// port without TransportConfig.Device, that reports no IPv4 address
// (unprovisioned) or does not answer STATUS (then also the cause).
var ErrNoAddress = errors.New("mssl: the device reports no IPv4 address")

// deviceAddr asks the device for its IPv4 address (STATUS).
func deviceAddr(ctx context.Context, cfg *TransportConfig, l *link.Serial) (netip.Addr, error) {
	d, err := device.New(l.Management(), &device.Options{Timeout: time.Second, Log: cfg.Log, Trace: cfg.Trace})
	if err != nil {
		return netip.Addr{}, err
	}
	st, err := d.Status(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: asking the device for it (STATUS): %w", ErrNoAddress, err)
	}
	if !st.Provisioned || !st.Addr.Is4() || st.Addr.IsUnspecified() {
		if !st.Provisioned {
			return netip.Addr{}, fmt.Errorf("%w: it is not provisioned (%s)", ErrNoAddress, st.ReasonText)
		}
		return netip.Addr{}, ErrNoAddress
	}
	cfg.logf("device address %s (STATUS)", st.Addr)
	return st.Addr, nil
}

// identify asks the device for IDENTIFY once (1 s, no retry): its clock
// scales the wait for its RSA verification.
func identify(ctx context.Context, cfg *TransportConfig, l *link.Serial) *device.Info {
	t0 := time.Now()
	d, err := device.New(l.Management(), &device.Options{Timeout: time.Second, Retries: -1, Log: cfg.Log, Trace: cfg.Trace})
	if err != nil {
		return nil
	}
	info, err := d.Identify(ctx)
	if errors.Is(err, device.ErrNoAnswer) || errors.Is(err, context.DeadlineExceeded) {
		cfg.logf("no answer to IDENTIFY within 1s: assuming a 16 MHz clock")
		return nil
	}
	if err != nil {
		cfg.logf("no answer to IDENTIFY: assuming a 16 MHz clock (%v)", err)
		return nil
	}
	cfg.logf("device answered IDENTIFY in %.1f s: %s at %d Hz, firmware %s", time.Since(t0).Seconds(), info.MCU, info.FCPU, info.Firmware)
	return info
}
