package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mstool/mstool/pkg/tasks"
)

// Session is the device leg: a secured session with one device (ESP or
// MSSL) that runs one task at a time. A reply with a status other than ok
// is a Reply, not an error; an error means the session is broken (the
// device is silent, the link is gone) and the gateway closes it and
// dials again.
type Session interface {
	Task(ctx context.Context, t tasks.Task, args []byte) (tasks.Reply, error)
	Close() error
}

// Dialer opens a session with a device.
type Dialer func(ctx context.Context) (Session, error)

// Back-off between attempts to reach a silent device.
const (
	MinBackoff = 250 * time.Millisecond
	MaxBackoff = 8 * time.Second
)

// Errors of a device's queue (errors.Is).
var (
	// ErrBusy: the device's queue is full (CoAP 5.03).
	ErrBusy = errors.New("gateway: the device's queue is full")
	// ErrUnreachable: the device did not answer or cannot be reached
	// (CoAP 5.04); the gateway reconnects with back-off.
	ErrUnreachable = errors.New("gateway: the device does not answer")
	// ErrStopped: the gateway is shutting down (CoAP 5.03).
	ErrStopped = errors.New("gateway: stopping")
)

type job struct {
	ctx   context.Context
	task  tasks.Task
	args  []byte
	reply chan jobResult // buffered 1
}

type jobResult struct {
	reply tasks.Reply
	rtt   time.Duration
	err   error
}

// queue is one device's queue and the worker that owns its session:
// requests run in lock-step, in arrival order.
type queue struct {
	cfg   *DeviceConfig
	dial  Dialer
	log   func(string, ...any)
	queue chan job

	up         atomic.Bool
	reconnects atomic.Uint64
	served     atomic.Uint64
	busy       atomic.Uint64
	silent     atomic.Uint64

	mu      sync.Mutex
	lastErr string
}

func newDevice(cfg *DeviceConfig, dial Dialer, log func(string, ...any)) *queue {
	return &queue{cfg: cfg, dial: dial, log: log, queue: make(chan job, cfg.Queue)}
}

// do queues one task and waits for its result.
func (d *queue) do(ctx context.Context, stop <-chan struct{}, t tasks.Task, args []byte) (jobResult, error) {
	j := job{ctx: ctx, task: t, args: args, reply: make(chan jobResult, 1)}
	select {
	case <-stop:
		return jobResult{}, ErrStopped
	default:
	}
	select {
	case d.queue <- j:
	default:
		d.busy.Add(1)
		return jobResult{}, ErrBusy
	}
	select {
	case r := <-j.reply:
		return r, r.err
	case <-ctx.Done():
		return jobResult{}, ctx.Err()
	case <-stop:
		return jobResult{}, ErrStopped
	}
}

// run is the worker: it dials the device (again after an error, with
// back-off) and runs the queued tasks one by one until ctx ends.
func (d *queue) run(ctx context.Context) {
	var sess Session
	backoff := MinBackoff
	var retry *time.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
		if sess != nil {
			sess.Close()
		}
		d.up.Store(false)
		// Anyone still queued is answered; nobody else can queue (stop
		// is closed before ctx ends).
		for {
			select {
			case j := <-d.queue:
				j.reply <- jobResult{err: ErrStopped}
			default:
				return
			}
		}
	}()
	connect := func() bool {
		s, err := d.dial(ctx)
		if err != nil {
			d.setErr(err)
			if ctx.Err() == nil {
				d.log("device %s: cannot open the session: %v (retry in %v)", d.cfg.Name, err, backoff)
			}
			if retry != nil {
				retry.Stop()
			}
			retry = time.NewTimer(backoff)
			retryC = retry.C
			backoff = min(2*backoff, MaxBackoff)
			return false
		}
		if d.reconnects.Add(1) > 1 {
			d.log("device %s: session open again", d.cfg.Name)
		} else {
			d.log("device %s: session open", d.cfg.Name)
		}
		sess, retryC, backoff = s, nil, MinBackoff
		d.up.Store(true)
		return true
	}
	connect()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retryC:
			retryC = nil
			connect()
		case j := <-d.queue:
			if j.ctx.Err() != nil { // the client gave up while queued
				j.reply <- jobResult{err: j.ctx.Err()}
				continue
			}
			if sess == nil {
				// Waiting for the back-off: the device is not there.
				if retryC != nil {
					d.silent.Add(1)
					j.reply <- jobResult{err: ErrUnreachable}
					continue
				}
				if !connect() {
					d.silent.Add(1)
					j.reply <- jobResult{err: ErrUnreachable}
					continue
				}
			}
			tctx, cancel := context.WithCancel(j.ctx)
			stop := context.AfterFunc(ctx, cancel)
			t0 := time.Now()
			r, err := sess.Task(tctx, j.task, j.args)
			stop()
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					j.reply <- jobResult{err: ErrStopped}
					return
				}
				if j.ctx.Err() != nil && errors.Is(err, j.ctx.Err()) {
					// The client gave up. The session stays: both
					// kinds skip a late reply to an abandoned request
					// (its request id is not waited for any more).
					j.reply <- jobResult{err: err}
					continue
				}
				d.silent.Add(1)
				d.setErr(err)
				d.log("device %s: task %s: %v; reconnecting", d.cfg.Name, j.task, err)
				j.reply <- jobResult{err: ErrUnreachable}
				sess.Close()
				sess = nil
				d.up.Store(false)
				retry = time.NewTimer(0)
				retryC = retry.C
				continue
			}
			d.served.Add(1)
			j.reply <- jobResult{reply: r, rtt: time.Since(t0)}
		}
	}
}

func (d *queue) setErr(err error) {
	d.mu.Lock()
	d.lastErr = err.Error()
	d.mu.Unlock()
}

// DeviceStatus is one device's state and counters (--json status).
type DeviceStatus struct {
	Name      string `json:"name"`
	Leg       Leg    `json:"leg"`
	Up        bool   `json:"up"`
	Queued    int    `json:"queued"`
	Sessions  uint64 `json:"sessions"` // sessions opened
	Served    uint64 `json:"served"`   // tasks answered by the device
	Busy      uint64 `json:"busy"`     // refused with 5.03: queue full
	Silent    uint64 `json:"silent"`   // answered 5.04
	LastError string `json:"last_error,omitempty"`
}

func (d *queue) status() DeviceStatus {
	d.mu.Lock()
	le := d.lastErr
	d.mu.Unlock()
	return DeviceStatus{Name: d.cfg.Name, Leg: d.cfg.Leg, Up: d.up.Load(), Queued: len(d.queue),
		Sessions: d.reconnects.Load(), Served: d.served.Load(), Busy: d.busy.Load(), Silent: d.silent.Load(), LastError: le}
}
