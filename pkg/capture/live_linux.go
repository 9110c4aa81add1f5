//go:build linux

package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// ARPHRD values (linux/if_arp.h) and the link type AF_PACKET frames of
// such interfaces have.
const (
	arphrdEther    = 1
	arphrdLoopback = 772
	arphrdSLIP     = 256
	arphrdCSLIP    = 257
	arphrdNone     = 65534 // tun devices: IP without a link header
)

type liveHandle struct {
	*pcapgo.EthernetHandle
	lt layers.LinkType
}

func (h *liveHandle) LinkType() layers.LinkType { return h.lt }

// OpenLive opens an AF_PACKET socket on iface. It needs root or
// CAP_NET_RAW; without them the error wraps fs.ErrPermission.
func OpenLive(iface string) (LiveSource, error) {
	if _, err := net.InterfaceByName(iface); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoInterface, iface)
	}
	lt, err := linkTypeOf(iface)
	if err != nil {
		return nil, err
	}
	// Probe for the privilege first: pcapgo reports it only as text.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture: opening a packet socket on %s: %w", iface, fs.ErrPermission)
		}
		return nil, fmt.Errorf("capture: opening a packet socket on %s: %w", iface, err)
	}
	unix.Close(fd)
	h, err := pcapgo.NewEthernetHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("capture: %v", err)
	}
	return &liveHandle{EthernetHandle: h, lt: lt}, nil
}

func linkTypeOf(iface string) (layers.LinkType, error) {
	b, err := os.ReadFile("/sys/class/net/" + iface + "/type")
	if err != nil {
		return LinkTypeEthernet, nil // assume Ethernet when sysfs is not there
	}
	t, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("capture: %s: unreadable interface type %q", iface, b)
	}
	switch t {
	case arphrdEther, arphrdLoopback:
		return LinkTypeEthernet, nil
	case arphrdNone, arphrdSLIP, arphrdCSLIP:
		return LinkTypeRaw, nil
	}
	return 0, fmt.Errorf("capture: %s: interface type %d is not supported (Ethernet, loopback, SLIP and tun are)", iface, t)
}
