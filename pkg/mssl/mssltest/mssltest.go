// Package mssltest provides in-memory stand-ins for testing MSSL without
// a device: Tasks, a task service that behaves like the firmware's
// (docs/tasks.md), and Pipe, a Transport that hands every message straight
// to a Server, with a hook that sees (and may drop or change) each one.
package mssltest

import (
	"context"
	"net/netip"
	"sync"

	"github.com/mstool/mstool/internal/taskfake"
	"github.com/mstool/mstool/pkg/mssl"
)

// Tasks is a device task service in memory (internal/taskfake: the same
// fake the ESP tests use); its Run is a mssl.TaskFunc.
type Tasks = taskfake.Service

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
