package bootstrap

import (
	"context"
	"errors"
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
