// Package mssltest provides in-memory stand-ins for testing MSSL without
// a device: Tasks, a task service that behaves like the firmware's
// (docs/tasks.md), and Pipe, a Transport that hands every message straight
// to a Server, with a hook that sees (and may drop or change) each one.
package mssltest

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/tasks"
)

// Tasks is a device task service in memory.
type Tasks struct {
	mu       sync.Mutex
	DeviceID uint32
	LED      bool
	Settings [2]uint16
	Served   int
}

// Run serves one task (a mssl.TaskFunc).
func (t *Tasks) Run(task grant.Task, args []byte) (tasks.Status, []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Served++
	want := func(n int) bool { return len(args) == n }
	switch task {
	case grant.TaskID:
		if !want(0) {
			return tasks.StatusBadArgs, nil
		}
		r := binary.BigEndian.AppendUint32(nil, t.DeviceID)
		return tasks.StatusOK, append(r, 0, 1, 1, 0x01)
	case grant.TaskUptime:
		if !want(0) {
			return tasks.StatusBadArgs, nil
		}
		return tasks.StatusOK, []byte{0, 0, 0, 42, 0, 1}
	case grant.TaskCounters:
		return tasks.StatusOK, make([]byte, 4*len(tasks.CounterNames))
	case grant.TaskLED:
		if !want(1) || args[0] > 3 {
			return tasks.StatusBadArgs, nil
		}
		switch args[0] {
		case 0:
			t.LED = false
		case 1:
			t.LED = true
		case 2:
			t.LED = !t.LED
		}
		if t.LED {
			return tasks.StatusOK, []byte{1}
		}
		return tasks.StatusOK, []byte{0}
	case grant.TaskADC:
		if !want(1) || args[0] > 7 {
			return tasks.StatusBadArgs, nil
		}
		return tasks.StatusOK, []byte{0x02, args[0]}
	case grant.TaskSettingsRead:
		if !want(1) || args[0] > 1 {
			return tasks.StatusBadArgs, nil
		}
		return tasks.StatusOK, binary.BigEndian.AppendUint16(nil, t.Settings[args[0]])
	case grant.TaskSettingsWrite:
		if !want(3) || args[0] > 1 {
			return tasks.StatusBadArgs, nil
		}
		t.Settings[args[0]] = binary.BigEndian.Uint16(args[1:])
		return tasks.StatusOK, args[1:3]
	}
	return tasks.StatusUnknownTask, nil
}

// Hook sees every message on a Pipe: toDevice says its direction. It
// returns the messages to deliver instead (nil drops it).
type Hook func(toDevice bool, msg []byte) [][]byte

// Pipe is a Transport from a host at Peer straight into a Server.
type Pipe struct {
	Server *mssl.Server
	Peer   netip.AddrPort
	Hook   Hook // may be nil

	mu     sync.Mutex
	q      chan []byte
	closed chan struct{}
	once   sync.Once
}

// NewPipe connects a host at peer to srv.
func NewPipe(srv *mssl.Server, peer netip.AddrPort) *Pipe {
	return &Pipe{Server: srv, Peer: peer, q: make(chan []byte, 64), closed: make(chan struct{})}
}

// Send delivers m to the server and queues its answers.
func (p *Pipe) Send(m []byte) error {
	p.mu.Lock()
	hook := p.Hook
	p.mu.Unlock()
	in := [][]byte{append([]byte(nil), m...)}
	if hook != nil {
		in = hook(true, in[0])
	}
	for _, msg := range in {
		for _, r := range p.Server.Handle(p.Peer, msg) {
			out := [][]byte{r}
			if hook != nil {
				out = hook(false, r)
			}
			for _, o := range out {
				select {
				case p.q <- o:
				default:
				}
			}
		}
	}
	return nil
}

// SetHook replaces the hook.
func (p *Pipe) SetHook(h Hook) {
	p.mu.Lock()
	p.Hook = h
	p.mu.Unlock()
}

// Recv returns the next answer.
func (p *Pipe) Recv(ctx context.Context) ([]byte, error) {
	select {
	case m := <-p.q:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closed:
		return nil, mssl.ErrClosed
	}
}

// Close closes the pipe.
func (p *Pipe) Close() error { p.once.Do(func() { close(p.closed) }); return nil }
