package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
)

// interrupted records that a SIGINT reached one of mstool's handlers
// (notifyContext), for main: a command that fails because of Ctrl-C ends,
// after its cleanup, by SIGINT itself (reraise), not with an exit status.
// A shell running mstool in a loop or a script stops only when its child
// was killed by SIGINT: an exit status, even 130, tells it the child
// handled the interrupt, and the script goes on with its next command.
var interrupted atomic.Bool

// notifyContext is signal.NotifyContext that also records a SIGINT in
// interrupted. Every command that catches signals uses it.
func notifyContext(parent context.Context, sigs ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, sigs...)
	rec := make(chan os.Signal, 1)
	signal.Notify(rec, os.Interrupt)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-rec:
				interrupted.Store(true)
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		stop()
		signal.Stop(rec)
		// A SIGINT delivered just before Stop is still recorded.
		select {
		case <-rec:
			interrupted.Store(true)
		default:
		}
		close(done)
	}
}
