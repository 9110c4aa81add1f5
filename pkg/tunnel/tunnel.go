// Package tunnel is a TUN interface carrying the host side of an ESP SA, so
// any host program (ping, nc, a CoAP client) reaches the device's IPv4
// address: IPv4 packets the kernel routes into the interface, from the SA's
// source to its destination, are handed to a sender that seals them
// (espsession.Session.SendPacket); inner packets the session opens are
// written back to the interface (Deliver, for espsession.Config.Inner).
//
// The interface is made with the tun package of golang.zx2c4.com/wireguard;
// making one needs CAP_NET_ADMIN (ErrPermission). Addresses and routes are
// the caller's to set (ip addr add HOST peer DEVICE dev NAME). The package
// never prints: events go to Config.Log.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/mstool/mstool/pkg/ipv4"
)

const (
	// DefaultName is the interface name when Config.Name is empty.
	DefaultName = "mstun0"
	// DefaultMTU is the interface MTU in bytes when Config.MTU is 0: an
	// inner packet that fits the ATmega328P's 296-byte frames
	// (docs/firmware-net.md) after the outer IPv4 header and the ESP
	// overhead of every suite (at most 54 bytes, CBC with HMAC).
	DefaultMTU = 216
	// MinMTU and MaxMTU bound Config.MTU (IPv4's minimum, Ethernet's).
	MinMTU = 68
	MaxMTU = 1500

	// offset is the headroom the tun package needs in front of each
	// packet for its virtio-net header.
	offset = 16
	// maxRead is the largest packet the kernel hands to a TUN read
	// (a TCP segmentation offload super-packet, before the tun package
	// splits it).
	maxRead = 65535
)

// ErrPermission: the interface cannot be made without CAP_NET_ADMIN.
var ErrPermission = errors.New("tunnel: making a TUN interface needs CAP_NET_ADMIN")

// Config sets up a tunnel.
type Config struct {
	// Name of the interface (default DefaultName) and its MTU (default
	// DefaultMTU).
	Name string
	MTU  int
	// Local and Remote are the SA's source and destination (the host's and
	// the device's addresses): only IPv4 packets from Local to Remote are
	// sent; others are dropped and counted.
	Local, Remote netip.Addr
	// Log, when set, is told of dropped packets, one line each.
	Log func(msg string)
}

// Counters count the tunnel's packets.
type Counters struct {
	ToDevice    uint64 `json:"to_device"`    // read from the interface and sent
	FromDevice  uint64 `json:"from_device"`  // written to the interface
	NotIPv4     uint64 `json:"not_ipv4"`     // read from the interface, not IPv4 (IPv6 router solicitations, ...) or a malformed header
	OtherAddr   uint64 `json:"other_addr"`   // IPv4 read from the interface, not Local to Remote
	SendFailed  uint64 `json:"send_failed"`  // refused by the sender (ErrSelector, a malformed header)
	WriteFailed uint64 `json:"write_failed"` // not written to the interface
}

// Tunnel is a TUN interface and its counters.
type Tunnel struct {
	cfg  Config
	dev  tun.Device
	name string

	wmu  sync.Mutex
	wbuf []byte

	closeOnce sync.Once
	closeErr  error

	c struct{ to, from, notIPv4, other, sendFailed, writeFailed atomic.Uint64 }
}

// Create makes the TUN interface and brings it up. Without CAP_NET_ADMIN
// it returns an error wrapping ErrPermission.
func Create(cfg Config) (*Tunnel, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < MinMTU || cfg.MTU > MaxMTU {
		return nil, fmt.Errorf("tunnel: MTU %d out of range %d-%d", cfg.MTU, MinMTU, MaxMTU)
	}
	if !cfg.Local.Is4() || !cfg.Remote.Is4() {
		return nil, errors.New("tunnel: the local and remote addresses must be IPv4")
	}
	dev, err := tun.CreateTUN(cfg.Name, cfg.MTU)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w (%s: %v)", ErrPermission, cfg.Name, err)
		}
		return nil, fmt.Errorf("tunnel: %s: %w", cfg.Name, err)
	}
	t := &Tunnel{cfg: cfg, dev: dev, wbuf: make([]byte, offset+maxRead)}
	if t.name, err = dev.Name(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	if err := setUp(t.name); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: bringing %s up: %w", t.name, err)
	}
	return t, nil
}

// Name is the interface's name.
func (t *Tunnel) Name() string { return t.name }

// MTU is the interface's MTU.
func (t *Tunnel) MTU() int { return t.cfg.MTU }

func (t *Tunnel) logf(format string, a ...any) {
	if t.cfg.Log != nil {
		t.cfg.Log(fmt.Sprintf(format, a...))
	}
}

// Deliver writes one inner packet from the device to the interface. It is
// safe for concurrent use and keeps no reference to pkt.
func (t *Tunnel) Deliver(pkt []byte) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if len(pkt) > maxRead {
		t.c.writeFailed.Add(1)
		return
	}
	n := copy(t.wbuf[offset:], pkt)
	if _, err := t.dev.Write([][]byte{t.wbuf[:offset+n]}, offset); err != nil {
		t.c.writeFailed.Add(1)
		t.logf("dropped a packet of %d bytes from the device: writing to %s: %v", len(pkt), t.name, err)
		return
	}
	t.c.from.Add(1)
}

// Run reads packets the kernel routes into the interface and gives each
// IPv4 packet from Local to Remote to send, until ctx is done (it then
// closes the interface and returns nil) or send fails with an error that
// is not about the packet (refuse reports those: the packet is dropped and
// counted). refuse may be nil: every send error ends Run.
func (t *Tunnel) Run(ctx context.Context, send func(pkt []byte) error, refuse func(error) bool) error {
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	batch := t.dev.BatchSize()
	bufs := make([][]byte, batch)
	sizes := make([]int, batch)
	bufs[0] = make([]byte, offset+maxRead)
	for i := 1; i < batch; i++ {
		bufs[i] = make([]byte, offset+MaxMTU)
	}
	for {
		n, err := t.dev.Read(bufs, sizes, offset)
		if err != nil && n == 0 {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				continue
			}
			return fmt.Errorf("tunnel: reading %s: %w", t.name, err)
		}
		for i := 0; i < n; i++ {
			if err := t.forward(bufs[i][offset:offset+sizes[i]], send, refuse); err != nil {
				return err
			}
		}
	}
}

// forward hands pkt on when it is IPv4 (its header read by pkg/ipv4, the
// one place of its layout) from Local to Remote, and counts the rest.
func (t *Tunnel) forward(pkt []byte, send func([]byte) error, refuse func(error) bool) error {
	h, err := ipv4.ReadFields(pkt)
	if err != nil {
		t.c.notIPv4.Add(1)
		return nil
	}
	src, dst := h.Src, h.Dst
	if src != t.cfg.Local || dst != t.cfg.Remote {
		t.c.other.Add(1)
		t.logf("dropped a packet %s > %s: the SA carries %s > %s only", src, dst, t.cfg.Local, t.cfg.Remote)
		return nil
	}
	if err := send(pkt); err != nil {
		if refuse != nil && refuse(err) {
			t.c.sendFailed.Add(1)
			t.logf("dropped a packet %s > %s of %d bytes: %v", src, dst, len(pkt), err)
			return nil
		}
		return err
	}
	t.c.to.Add(1)
	return nil
}

// Counters returns the tunnel's counters.
func (t *Tunnel) Counters() Counters {
	return Counters{
		ToDevice: t.c.to.Load(), FromDevice: t.c.from.Load(), NotIPv4: t.c.notIPv4.Load(),
		OtherAddr: t.c.other.Load(), SendFailed: t.c.sendFailed.Load(), WriteFailed: t.c.writeFailed.Load(),
	}
}

// Close removes the interface. It may be called more than once.
func (t *Tunnel) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.dev.Close() })
	return t.closeErr
}
