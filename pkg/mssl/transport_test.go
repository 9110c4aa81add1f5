package mssl_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/tasks"
)

func runTasks(t *testing.T, f *fixture, tr mssl.Transport, g []byte, hk [16]byte) {
	t.Helper()
	ctx := context.Background()
	s, err := mssl.Dial(ctx, mssl.Config{Grant: g, HostKey: hk, Transport: tr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Task(ctx, tasks.TaskLED, []byte{1})
	if err != nil || r.Status != tasks.StatusOK {
		t.Fatalf("led: %v %+v", err, r)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestStream runs a session over a byte stream with length prefixes.
func TestStream(t *testing.T) {
	f := newFixture(t, 2048)
	a, b := net.Pipe()
	go f.srv.ServeStream(b, hostAddr)
	runTasks(t, f, mssl.NewStream(a), f.grant, f.hk)
	b.Close()
}

// TestUDP runs a session over UDP on the loopback interface.
func TestUDP(t *testing.T) {
	f := newFixture(t, 1024)
	g, hk := f.sign(request(func(r *grant.Request) { r.HostIP = netip.MustParseAddr("127.0.0.1") }))
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go f.srv.ServePacket(pc)
	tr, err := mssl.DialUDP(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	runTasks(t, f, tr, g, hk)
}

// TestNoAnswer: a device that does not answer gives ErrNoAnswer.
func TestNoAnswer(t *testing.T) {
	f := newFixture(t, 1024)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tr, err := mssl.DialUDP(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = mssl.Dial(context.Background(), mssl.Config{Grant: f.grant, HostKey: f.hk, Transport: tr, Timeout: 50 * time.Millisecond, Retries: 1})
	if err == nil || !isNoAnswer(err) {
		t.Fatalf("silent device: %v", err)
	}
}

func isNoAnswer(err error) bool { return errors.Is(err, mssl.ErrNoAnswer) }
