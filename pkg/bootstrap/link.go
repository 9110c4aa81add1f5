package bootstrap

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// Requester is a device link that answers one request with one reply:
// the management channel over a serial port (*device.Device's Bootstrap
// method, firmware/lib/bootstrap.c), where every flight 4 is a BOOTSTRAP
// request and its flight 5 or NAK the reply.
type Requester interface {
	Bootstrap(ctx context.Context, flight []byte) ([]byte, error)
}

// RequestConn makes a Requester the Device link of a JoinConfig: Write
// sends a flight as one request and keeps the reply for the next Read; a
// request the device does not answer leaves nothing, so Read reports a
// timeout and Join sends the flight again (the device answers a copy of
// its last flight 4 from its cache).
func RequestConn(r Requester) net.Conn { return &requestConn{r: r} }

type requestConn struct {
	r     Requester
	mu    sync.Mutex
	reply []byte
}

// Write runs the request under the Requester's own timeout and retries
// (Join sets its read deadline only after the write).
func (c *requestConn) Write(b []byte) (int, error) {
	p, err := c.r.Bootstrap(context.Background(), append([]byte(nil), b...))
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.reply = nil
		return len(b), nil // no answer: Read times out, Join retries
	}
	c.reply = p
	return len(b), nil
}

func (c *requestConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reply == nil {
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(b, c.reply)
	c.reply = nil
	return n, nil
}

func (c *requestConn) Close() error                     { return nil }
func (c *requestConn) LocalAddr() net.Addr              { return requestAddr{} }
func (c *requestConn) RemoteAddr() net.Addr             { return requestAddr{} }
func (c *requestConn) SetDeadline(time.Time) error      { return nil }
func (c *requestConn) SetWriteDeadline(time.Time) error { return nil }
func (c *requestConn) SetReadDeadline(time.Time) error  { return nil }

type requestAddr struct{}

func (requestAddr) Network() string { return "mgmt" }
func (requestAddr) String() string  { return "management channel" }
