package mssl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mstool/mstool/pkg/link"
)

// TransportConfig says how OpenTransport reaches a device: exactly one of
// UDP, TCP and Port.
type TransportConfig struct {
	UDP  string // HOST:PORT of MSSL on UDP
	TCP  string // HOST:PORT of MSSL framed on a TCP stream
	Port string // a serial port: MSSL in UDP/IPv4 over the device's link

	// For Port: the device's IPv4 address (MSSL on its Port), this
	// host's address and UDP port, and the link's options.
	Device netip.Addr
	Local  netip.AddrPort
	Link   link.Options

	Timeout time.Duration // for TCP: how long to wait for the connection
}

// SerialTransport is MSSL over a serial port. Close closes the port too.
type SerialTransport struct {
	*Link
	Serial *link.Serial // the port; its Management goes in Config.Management
}

// Close stops the transport and closes the port.
func (t *SerialTransport) Close() error {
	t.Link.Close()
	return t.Serial.Close()
}

// OpenTransport opens the transport cfg names: a *Packet for UDP, a
// *Stream for TCP, a *SerialTransport for Port. Errors from the serial
// port are link.OpenSerial's.
func OpenTransport(cfg TransportConfig) (Transport, error) {
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
		conn, err := net.DialTimeout("tcp", cfg.TCP, cfg.Timeout)
		if err != nil {
			return nil, fmt.Errorf("mssl: %w", err)
		}
		return NewStream(conn), nil
	}
	l, err := link.OpenSerial(cfg.Port, &cfg.Link)
	if err != nil {
		return nil, err
	}
	return &SerialTransport{Link: NewLink(l, cfg.Local, netip.AddrPortFrom(cfg.Device, Port)), Serial: l}, nil
}
