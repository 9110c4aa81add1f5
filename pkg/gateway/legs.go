package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/safile"
	"github.com/mstool/mstool/pkg/tasks"
)

// DialerFor returns the dialer of d's device leg: an ESP session
// (espsession.Open) or an MSSL session (mssl.OpenTransport, mssl.Dial).
// log, when set, is given the sessions' own events (mstool -v).
func DialerFor(d *DeviceConfig, log func(string)) Dialer {
	if d.Leg == LegMSSL {
		return func(ctx context.Context) (Session, error) { return dialMSSL(ctx, d, log) }
	}
	return func(ctx context.Context) (Session, error) { return dialESP(d, log) }
}

type espLeg struct{ c *espsession.Conn }

func dialESP(d *DeviceConfig, log func(string)) (Session, error) {
	sas, err := safile.ReadFile(d.SAFile)
	if err != nil {
		return nil, err
	}
	c, err := espsession.Open(espsession.OpenConfig{SAs: sas, SAPath: d.SAFile, Port: d.Port, UDP: d.UDP,
		Link: link.Options{Reset: d.Reset}, Timeout: d.Timeout, Retries: retries(d.Retries), Log: log})
	if err != nil {
		return nil, err
	}
	return espLeg{c}, nil
}

// retries maps the configuration's count to the sessions' convention
// (0: default, negative: none).
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func (l espLeg) Task(ctx context.Context, t tasks.Task, args []byte) (tasks.Reply, error) {
	r, err := l.c.Task(ctx, t, args)
	var te *espsession.TaskError
	if errors.As(err, &te) {
		return tasks.Reply{Task: t, ID: te.ID, Status: te.Status}, nil
	}
	if err != nil {
		return tasks.Reply{}, err
	}
	return tasks.Reply{Task: t, ID: r.ID, Status: tasks.StatusOK, Result: r.Result}, nil
}

func (l espLeg) Close() error { return l.c.Close() }

type msslLeg struct{ s *mssl.Session }

func dialMSSL(ctx context.Context, d *DeviceConfig, log func(string)) (Session, error) {
	g, err := os.ReadFile(d.Grant)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	parsed, err := grant.Parse(g)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", d.Grant, err)
	}
	hkData, err := keyfile.ReadPrivate(d.HostKey)
	if err != nil {
		return nil, err
	}
	hk, err := grant.ParseHostKey(hkData)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", d.HostKey, err)
	}
	tc := mssl.TransportConfig{Port: d.Port, Timeout: d.Timeout}
	if d.Port == "" {
		tc.UDP = d.UDP
	} else {
		if !d.HostIP.IsValid() && !parsed.HostIP.IsValid() {
			return nil, errors.New("gateway: the grant binds no IPv4 address: give host-ip=A.B.C.D")
		}
		// This host's address defaults to the grant's, the UDP port to
		// mssl.LocalPort(); the device's clock (IDENTIFY) scales the
		// handshake's wait.
		tc.Device, tc.Local, tc.Grant = d.DeviceIP, netip.AddrPortFrom(d.HostIP, 0), parsed
		tc.Log, tc.Link.Reset = log, d.Reset
	}
	tr, err := mssl.OpenTransport(ctx, tc)
	if err != nil {
		return nil, err
	}
	// Over a serial port, Dial uses its management channel and the
	// device's clock.
	cfg := mssl.Config{Grant: g, HostKey: hk, Transport: tr, Timeout: d.Timeout, Retries: retries(d.Retries), Log: log}
	s, err := mssl.Dial(ctx, cfg)
	if err != nil {
		tr.Close()
		return nil, err
	}
	return msslLeg{s}, nil
}

func (l msslLeg) Task(ctx context.Context, t tasks.Task, args []byte) (tasks.Reply, error) {
	return l.s.Task(ctx, t, args)
}

func (l msslLeg) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return l.s.Close(ctx)
}
