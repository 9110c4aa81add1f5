package mssl_test

import (
	"context"
	"net"
	"testing"

	"github.com/mstool/mstool/pkg/mssl"
)

func TestOpenTransport(t *testing.T) {
	for _, cfg := range []mssl.TransportConfig{{}, {UDP: "127.0.0.1:1", TCP: "127.0.0.1:1"}} {
		if tr, err := mssl.OpenTransport(context.Background(), cfg); err == nil {
			tr.Close()
			t.Errorf("OpenTransport(%+v) succeeded, want an error", cfg)
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tr, err := mssl.OpenTransport(context.Background(), mssl.TransportConfig{UDP: pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, ok := tr.(*mssl.Packet); !ok {
		t.Errorf("UDP transport is %T, want *mssl.Packet", tr)
	}
	if err := tr.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Errorf("listener got %q, %v", buf[:n], err)
	}
}
