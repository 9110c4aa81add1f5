package mssl_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/tasks"
)

// FuzzServer feeds arbitrary messages to a device that has a session
// established and a handshake in progress: it must never panic, answer
// with at most a few messages of at most MaxMessage bytes, and keep
// serving the honest host.
func FuzzServer(f *testing.F) {
	fx := newFixture(f, 1024)
	var rec recorder
	s, _ := fx.dialRecorded(&rec)
	s.Task(context.Background(), tasks.TaskADC, []byte{1})
	for _, m := range rec.msgs {
		f.Add(m.msg)
	}
	st, _ := mssl.SignFloor(fx.issuer, mssl.FloorRequest{Target: 0x2a, SerialFloor: 1, IssuedAt: t0})
	f.Add(append([]byte{mssl.TypeFloorSignature}, st[mssl.FloorBodySize:]...))
	f.Add([]byte{mssl.RecordFloor, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, m []byte) {
		fx := newFixture(t, 1024)
		fx.grant, fx.hk = fxGrant(fx, f)
		honest, _ := fx.dial()
		fx.srv.Handle(hostAddr, rec.sent(mssl.TypeClientHello)[0])
		for _, peer := range []bool{true, false} {
			from := hostAddr
			if !peer {
				from = deviceAddr
			}
			out := fx.srv.Handle(from, bytes.Clone(m))
			if len(out) > 2 {
				t.Fatalf("%d answers", len(out))
			}
			for _, o := range out {
				if len(o) > mssl.MaxMessage {
					t.Fatalf("answer of %d bytes", len(o))
				}
			}
		}
		if _, err := honest.Task(context.Background(), tasks.TaskADC, []byte{2}); err != nil {
			t.Fatalf("honest session after %x: %v", m, err)
		}
	})
}

var fuzzGrant struct {
	g  []byte
	hk [16]byte
}

// fxGrant signs the fuzz grant once (RSA signing in every run is slow).
func fxGrant(fx *fixture, f *testing.F) ([]byte, [16]byte) {
	if fuzzGrant.g == nil {
		fuzzGrant.g, fuzzGrant.hk = fx.sign(request())
	}
	return fuzzGrant.g, fuzzGrant.hk
}

// FuzzParse runs every parser of the package on arbitrary bytes; each must
// return an error or a value that encodes back to its input.
func FuzzParse(f *testing.F) {
	ch := mssl.ClientHello{}
	f.Add(ch.Marshal())
	sh := mssl.ServerHello{Flags: mssl.FlagCached}
	f.Add(sh.Marshal())
	f.Add([]byte{mssl.RecordData, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("MSSL1 00 00 00 00 00 00\n"))
	f.Add([]byte("MF\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := mssl.ParseClientHello(b); err == nil && !bytes.Equal(m.Marshal(), b) {
			t.Fatal("client hello does not round-trip")
		}
		if m, err := mssl.ParseServerHello(b); err == nil && !bytes.Equal(m.Marshal(), b) {
			t.Fatal("server hello does not round-trip")
		}
		if r, err := mssl.ParseRecord(b); err == nil && len(r.Sealed) != len(b)-mssl.RecordHeaderSize {
			t.Fatal("record split wrongly")
		}
		mssl.ParseAlert(b)
		if fl, err := mssl.ParseFloor(b); err == nil && !bytes.Equal(fl.Marshal(), b) {
			t.Fatal("floor statement does not round-trip")
		}
		if len(b) >= mssl.FloorBodySize {
			if fl, err := mssl.ParseFloorBody(b[:mssl.FloorBodySize]); err == nil && !bytes.Equal(fl.Body(), b[:mssl.FloorBodySize]) {
				t.Fatal("floor body does not round-trip")
			}
		}
		mssl.ParseKeyLog(bytes.NewReader(b))
		d := mssl.NewDecrypter(nil)
		d.Open(nil, hostAddr, deviceAddr, b)
		d.Open(nil, deviceAddr, hostAddr, b)
	})
}
