package bootstrap

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// refDevice is the Go reference device behind a request/reply link (what
// *device.Device gives over the management channel); drop loses that many
// requests first.
type refDevice struct {
	d    *Device
	drop int
}

func (r *refDevice) Bootstrap(_ context.Context, flight []byte) ([]byte, error) {
	if r.drop > 0 {
		r.drop--
		return nil, errors.New("no answer")
	}
	p := r.d.Handle(flight)
	if p == nil {
		return nil, errors.New("format error")
	}
	return p, nil
}

// A join over a request/reply link (the serial management channel):
// lost requests are sent again, the device's key becomes the PSK, the
// server commits it, and a NAK comes through.
func TestJoinOverRequestConn(t *testing.T) {
	f := newFixture(t, 7)
	f.srv.Now = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sconn := listenUDP(t)
	go f.srv.Serve(ctx, sconn)
	dev := &refDevice{d: f.devices[7], drop: 2}
	cfg := &JoinConfig{Controller: testCtl, Server: dialUDP(t, sconn.LocalAddr()), Device: RequestConn(dev), Timeout: 200 * time.Millisecond}
	res, err := Join(ctx, cfg, f.enr[7].Label())
	if err != nil {
		t.Fatal(err)
	}
	if k, gen := f.devices[7].Key(); k != res.PSK || gen != 1 {
		t.Fatalf("device key gen %d, not the PSK", gen)
	}
	if f.inSync(7) != res.PSK {
		t.Fatal("the server did not commit the PSK")
	}
	wrong := NewDevice(7, [KeySize]byte{9}, f.enr[7].RNi)
	cfg.Device = RequestConn(&refDevice{d: wrong})
	if _, err := Join(ctx, cfg, f.enr[7].Label()); !errors.As(err, new(*NAKError)) {
		t.Fatalf("wrong key over the link: %v", err)
	}
}

// scriptedServer is the server link as a net.Conn: Write hands the flight
// to srv.Handle; before the answer to a flight 6 it queues inject (what
// an attacker on the path sends first).
type scriptedServer struct {
	srv    *Server
	inject []byte
	mu     sync.Mutex
	q      [][]byte
}

func (c *scriptedServer) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, err := ParseHeader(b); err == nil && h.Type == TypeConfirm && c.inject != nil {
		c.q = append(c.q, c.inject)
	}
	if r := c.srv.Handle(append([]byte(nil), b...)); r != nil {
		c.q = append(c.q, r)
	}
	return len(b), nil
}

func (c *scriptedServer) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(b, c.q[0])
	c.q = c.q[1:]
	return n, nil
}

func (c *scriptedServer) Close() error                     { return nil }
func (c *scriptedServer) LocalAddr() net.Addr              { return requestAddr{} }
func (c *scriptedServer) RemoteAddr() net.Addr             { return requestAddr{} }
func (c *scriptedServer) SetDeadline(time.Time) error      { return nil }
func (c *scriptedServer) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptedServer) SetReadDeadline(time.Time) error  { return nil }

// The controller takes at flight 7 only a reply of its own transaction:
// an error reply of an earlier one (authenticated under the same SK_cs,
// on the wire for anyone, here "device not enrolled" for a mistyped
// label), replayed while the join waits for flight 7, does not make a join
// fail that the server committed.
func TestJoinIgnoresStaleServerError(t *testing.T) {
	f := newFixture(t, 7)
	old := &JoinRequest{Controller: testCtl.ID, TS: uint64(f.now.Unix()), Device: 99}
	rand.Read(old.TID[:])
	stale := f.srv.Handle(MarshalJoin(testCtl.SKcs, old))
	if _, e, err := OpenError(testCtl.SKcs, stale); err != nil || e.Code != CodeUnknownDevice {
		t.Fatalf("setup: want an unknown-device error reply, got %v %v", e, err)
	}

	link := &scriptedServer{srv: f.srv, inject: stale}
	cfg := &JoinConfig{Controller: testCtl, Server: link, Device: RequestConn(&refDevice{d: f.devices[7]}),
		Timeout: 50 * time.Millisecond, Now: func() time.Time { return f.now }}
	res, err := Join(context.Background(), cfg, f.enr[7].Label())
	if f.inSync(7) != res.PSK {
		t.Fatal("setup: the server did not commit")
	}
	var se *ServerError
	if errors.As(err, &se) {
		t.Fatalf("the server committed the device's key, but a replayed error reply of another transaction (TID %x) made the join fail: %v", old.TID, err)
	}
	if err != nil {
		t.Fatal(err)
	}
}
