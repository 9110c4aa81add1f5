// Package link carries IPv4 packets between the host and a device.
//
// Two links exist:
//
//   - Serial: SLIP (RFC 1055) on the device's UART, through go.bug.st/serial
//     (a USB board or the simulated device's pseudo-terminal). The one port
//     carries IPv4 datagrams and the management channel (docs/management.md)
//     at once; the link demultiplexes received frames on their first byte
//     (0x00 management, 0x45..0x4F IPv4, anything else dropped and counted),
//     so a pkg/device client can share the port (Serial.Management).
//   - UDP: ESP-in-UDP (RFC 3948) to a networked device. The link sends the
//     UDP payload of each packet it is given and rebuilds received datagrams
//     into IPv4/UDP packets, so the layer above sees the same packets on
//     both links.
//
// Either link can record every packet it carries, both directions, in a
// pcap file of link type raw IPv4 (LINKTYPE_RAW, 101) that `mstool decrypt`
// and Wireshark read (Recorder).
package link

import (
	"context"
	"errors"

	"github.com/mstool/mstool/pkg/device"
)

// Errors callers can branch on (errors.Is). The serial port errors are
// pkg/device's, so both packages report a port the same way.
var (
	// ErrPortNotFound: the serial port does not exist.
	ErrPortNotFound = device.ErrPortNotFound
	// ErrPortBusy: another program has the port open.
	ErrPortBusy = device.ErrPortBusy
	// ErrPermission: the user may not open the port (the dialout group).
	ErrPermission = device.ErrPermission
	// ErrNotSerial: the path is not a serial port.
	ErrNotSerial = device.ErrNotSerial
	// ErrClosed: the link was closed (or the port went away).
	ErrClosed = errors.New("link: closed")
	// ErrTooLarge: the packet is larger than the link carries.
	ErrTooLarge = errors.New("link: packet too large")
)

// Link carries whole IPv4 packets. Implementations are safe for one
// reader and any number of writers at once.
type Link interface {
	// WritePacket sends one IPv4 packet.
	WritePacket(pkt []byte) error
	// ReadPacket returns the next IPv4 packet received (a fresh slice),
	// waiting until one arrives, ctx is done or the link is closed.
	ReadPacket(ctx context.Context) ([]byte, error)
	// Stats returns what the link has carried and dropped.
	Stats() Stats
	// Close closes the link (and its port or socket).
	Close() error
	// String names the link for messages, e.g. "serial /dev/ttyUSB0".
	String() string
}

// Stats count a link's traffic.
type Stats struct {
	PacketsSent     uint64 `json:"packets_sent"`
	PacketsReceived uint64 `json:"packets_received"`
	// Management frames passed to the management channel (serial only).
	ManagementFrames uint64 `json:"management_frames"`
	// Frames dropped by the link: not IPv4 or management, SLIP errors,
	// oversized, or received while the queue was full.
	Dropped uint64 `json:"dropped"`
}

// queueLen bounds the received packets waiting for a reader; when it is
// full the oldest are dropped (and counted), as a NIC drops.
const queueLen = 256
