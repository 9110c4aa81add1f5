package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/deadline"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// DTLS record layer (RFC 6347 §4.1) and handshake header (§4.2.2): what a
// datagram from a peer without a session must start with.
const (
	recordHeaderLen            = 13
	handshakeHeaderLen         = 12
	contentTypeAlert           = 21
	contentTypeHandshake       = 22
	contentTypeApplicationData = 23
	handshakeClientHello       = 1
	handshakeServerHello       = 2
	maxDatagram                = 2048 // larger datagrams are cut and fail
	peerBacklog                = 16   // datagrams waiting for one peer's reader
	acceptBacklog              = 16   // new peers waiting for Accept
	DefaultMaxPeers            = 256
	DefaultHandshakeLimit      = 5 * time.Second
	DefaultIdle                = 60 * time.Second
)

// isClientHello reports whether b starts with a DTLS ClientHello record
// in epoch 0: the only datagram that may create state for a new peer.
func isClientHello(b []byte) bool {
	if len(b) < recordHeaderLen+handshakeHeaderLen {
		return false
	}
	return b[0] == contentTypeHandshake && b[1] == 0xfe && (b[2] == 0xfd || b[2] == 0xff) &&
		b[3] == 0 && b[4] == 0 && b[recordHeaderLen] == handshakeClientHello
}

// dtlsRecords reports whether b is one or more whole DTLS 1.0 or 1.2
// records (RFC 6347 §4.1) with a content type the gateway speaks (change
// cipher spec, alert, handshake, application data: no connection IDs
// are negotiated), as pion/dtls unpacks them. pion drops anything else
// without a word; the mux drops and counts it first.
func dtlsRecords(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		if len(b) <= recordHeaderLen || b[0] < 20 || b[0] > 23 || b[1] != 0xfe || (b[2] != 0xfd && b[2] != 0xff) {
			return false
		}
		n := recordHeaderLen + int(binary.BigEndian.Uint16(b[11:13]))
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return true
}

// pionLog is the pion/dtls logger: it counts the records pion drops
// because they fail authentication (a MAC that does not verify: forged,
// corrupted, or under another key), which pion reports only in a debug
// line, and discards everything else (pion/dtls logs nothing above debug).
// TestGatewayDTLSAttacks notices if a pion/dtls release words it otherwise.
type pionLog struct{ st *stats }

const pionDecryptFailed = "%s: decrypt failed: %s" // pion/dtls conn.go, handleIncomingPacket

func (l pionLog) NewLogger(string) logging.LeveledLogger { return l }
func (l pionLog) Debugf(format string, _ ...any) {
	if format == pionDecryptFailed {
		l.st.dtlsAuthFailed.Add(1)
	}
}
func (pionLog) Trace(string)          {}
func (pionLog) Tracef(string, ...any) {}
func (pionLog) Debug(string)          {}
func (pionLog) Info(string)           {}
func (pionLog) Infof(string, ...any)  {}
func (pionLog) Warn(string)           {}
func (pionLog) Warnf(string, ...any)  {}
func (pionLog) Error(string)          {}
func (pionLog) Errorf(string, ...any) {}

// udpMux is a dtlsnet.PacketListener on one UDP socket: one net.PacketConn
// per remote address. Datagrams that cannot start a session, peers beyond
// the limit and datagrams a peer's reader has no room for are dropped and
// counted. With plain set it serves the plain CoAP port the same way
// (plainListener): a CoAP message the gateway serves (checkCoAP) starts a
// peer instead of a DTLS ClientHello, and no DTLS record checks apply.
type udpMux struct {
	pc       net.PacketConn
	maxPeers int
	st       *stats
	plain    bool
	accept   chan *peer
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	mu    sync.Mutex
	peers map[string]*peer
}

func newUDPMux(pc net.PacketConn, maxPeers int, st *stats, plain bool) *udpMux {
	m := &udpMux{pc: pc, maxPeers: maxPeers, st: st, plain: plain, accept: make(chan *peer, acceptBacklog),
		done: make(chan struct{}), peers: map[string]*peer{}}
	m.wg.Add(1)
	go m.read()
	return m
}

func (m *udpMux) read() {
	defer m.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, addr, err := m.pc.ReadFrom(buf)
		if err != nil {
			m.Close()
			return
		}
		if !m.plain {
			m.st.datagrams.Add(1)
		}
		key := addr.String()
		m.mu.Lock()
		p := m.peers[key]
		m.mu.Unlock()
		if p == nil {
			// Only this goroutine adds peers: none for key can appear
			// meanwhile.
			if p = m.newPeer(buf[:n], addr, key); p == nil {
				continue
			}
		}
		if !m.plain && !dtlsRecords(buf[:n]) {
			m.st.dtlsGarbage.Add(1)
			continue
		}
		select {
		case p.in <- append([]byte(nil), buf[:n]...):
		case <-p.closed:
		default:
			m.st.overrun.Add(1)
		}
	}
}

// sendsServerHello reports whether b, a datagram the gateway sends, holds
// a ServerHello (epoch 0): pion/dtls sends one only to a ClientHello that
// returned the cookie of its HelloVerifyRequest (RFC 6347 §4.2.1), so the
// peer has shown that it receives at its address.
func sendsServerHello(b []byte) bool {
	for len(b) > recordHeaderLen {
		n := recordHeaderLen + int(binary.BigEndian.Uint16(b[11:13]))
		if b[0] == contentTypeHandshake && b[3] == 0 && b[4] == 0 && b[recordHeaderLen] == handshakeServerHello {
			return true
		}
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return false
}

// newPeer makes state for addr, whose datagram b came without any: only
// when b may start a session (a DTLS ClientHello; on the plain port, a
// CoAP message the gateway serves) and Accept has room, and while fewer
// than maxPeers addresses have state. When maxPeers have, a DTLS peer
// that has not yet returned a cookie (verified) makes room: the oldest
// such peer is dropped (counted as peers_refused). A ClientHello from a
// spoofed address never returns its cookie, so a flood of them cannot
// keep a client that does out; it only shortens the time each unverified
// peer has to answer its HelloVerifyRequest. Else it drops b, counts it
// and returns nil.
func (m *udpMux) newPeer(b []byte, addr net.Addr, key string) *peer {
	if m.plain {
		if ok, rst := checkCoAP(b); !ok {
			m.st.coapMalformed.Add(1)
			if rst != nil {
				m.pc.WriteTo(rst, addr) // best effort, as a session's
			}
			return nil
		}
	} else if !isClientHello(b) {
		m.st.dtlsGarbage.Add(1)
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.accept) == cap(m.accept) {
		m.st.peersRefused.Add(1)
		return nil
	}
	if len(m.peers) >= m.maxPeers {
		var oldest *peer
		for _, q := range m.peers {
			if !q.verified.Load() && (oldest == nil || q.created.Before(oldest.created)) {
				oldest = q
			}
		}
		m.st.peersRefused.Add(1)
		if oldest == nil {
			return nil
		}
		oldest.closeLocked()
	}
	p := &peer{m: m, key: key, addr: addr, in: make(chan []byte, peerBacklog), closed: make(chan struct{}), rd: deadline.New(),
		ready: make(chan struct{}), created: time.Now()}
	p.verified.Store(m.plain) // (the plain port has no handshake)
	select {
	case m.accept <- p:
		m.peers[key] = p
		return p
	default:
		m.st.peersRefused.Add(1)
		return nil
	}
}

func (m *udpMux) Accept() (net.PacketConn, net.Addr, error) {
	select {
	case p := <-m.accept:
		return p, p.addr, nil
	case <-m.done:
		return nil, nil, net.ErrClosed
	}
}

func (m *udpMux) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.pc.Close()
		m.mu.Lock()
		ps := make([]*peer, 0, len(m.peers))
		for _, p := range m.peers {
			ps = append(ps, p)
		}
		m.mu.Unlock()
		for _, p := range ps {
			p.Close()
		}
		// Peers accepted by nobody.
		for {
			select {
			case p := <-m.accept:
				p.Close()
			default:
				return
			}
		}
	})
	return err
}

func (m *udpMux) Addr() net.Addr { return m.pc.LocalAddr() }

// wait waits for the reader to end (after Close).
func (m *udpMux) wait() { m.wg.Wait() }

func (m *udpMux) peerCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.peers)
}

// peer is one remote address's datagrams.
type peer struct {
	m      *udpMux
	key    string
	addr   net.Addr
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	rd     *deadline.Deadline

	// A DTLS peer's session closes ready when its handshake is complete;
	// until then its application data waits in held (nextDTLS).
	ready     chan struct{}
	readyOnce sync.Once
	held      [][]byte // only the session's reader goroutine uses it

	// created is when the first datagram came; verified is set once the
	// gateway sent a ServerHello (sendsServerHello): the peer returned
	// its cookie. Until then newPeer may drop it to make room.
	created  time.Time
	verified atomic.Bool
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "gateway: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// ReadFrom is the DTLS session's read (pion/dtls's reader goroutine).
func (p *peer) ReadFrom(b []byte) (int, net.Addr, error) {
	d, err := p.nextDTLS()
	if err != nil {
		return 0, nil, err
	}
	return copy(b, d), p.addr, nil
}

// nextDTLS is the DTLS session's next datagram. A datagram of application
// data records waits until the session's handshake is complete
// (handshakeDone): pion/dtls (v3.1.15, handleIncomingPacket) keeps one
// such datagram that arrives before it has marked its handshake complete
// and drops the others. A client sends its requests as soon as it has the
// server's Finished, and the server marks its handshake complete only
// after sending it: on a loaded machine, the requests of a new session
// were lost in that window. An encrypted alert behind held data waits
// too, so that a close_notify does not overtake the requests before it.
// Handshake records never wait: a spoofed record must not stall a
// handshake. Up to peerBacklog datagrams wait; more are dropped and
// counted (overrun).
func (p *peer) nextDTLS() ([]byte, error) {
	for {
		select {
		case <-p.ready:
			if len(p.held) > 0 {
				d := p.held[0]
				p.held[0] = nil
				p.held = p.held[1:]
				return d, nil
			}
			return p.next()
		default:
		}
		select {
		case d := <-p.in:
			if !holdUntilHandshake(d, len(p.held) > 0) {
				return d, nil
			}
			if len(p.held) < peerBacklog {
				p.held = append(p.held, d)
			} else {
				p.m.st.overrun.Add(1)
			}
		case <-p.ready:
		case <-p.closed:
			return nil, io.EOF
		case <-p.rd.Done():
			return nil, timeoutError{}
		}
	}
}

// handshakeDone releases the datagrams nextDTLS holds.
func (p *peer) handshakeDone() { p.readyOnce.Do(func() { close(p.ready) }) }

// holdUntilHandshake reports whether nextDTLS holds b, whole DTLS records
// (dtlsRecords): application data records, and encrypted (epoch 1 or
// later) alerts when b has application data or data is already held.
func holdUntilHandshake(b []byte, holding bool) bool {
	for len(b) > 0 {
		switch {
		case b[0] == contentTypeApplicationData:
			holding = true
		case b[0] != contentTypeAlert || b[3] == 0 && b[4] == 0:
			return false
		}
		b = b[recordHeaderLen+int(binary.BigEndian.Uint16(b[11:13])):]
	}
	return holding
}

// next is the peer's next datagram.
func (p *peer) next() ([]byte, error) {
	select {
	case d := <-p.in:
		return d, nil
	case <-p.closed:
		return nil, io.EOF
	case <-p.rd.Done():
		return nil, timeoutError{}
	}
}

func (p *peer) WriteTo(b []byte, _ net.Addr) (int, error) {
	select {
	case <-p.closed:
		return 0, net.ErrClosed
	default:
	}
	if !p.verified.Load() && sendsServerHello(b) {
		p.verified.Store(true)
	}
	return p.m.pc.WriteTo(b, p.addr)
}

func (p *peer) Close() error {
	p.m.mu.Lock()
	p.closeLocked()
	p.m.mu.Unlock()
	return nil
}

// closeLocked closes p; the caller holds p.m.mu.
func (p *peer) closeLocked() {
	p.once.Do(func() {
		close(p.closed)
		if p.m.peers[p.key] == p {
			delete(p.m.peers, p.key)
		}
	})
}

func (p *peer) LocalAddr() net.Addr                { return p.m.pc.LocalAddr() }
func (p *peer) SetDeadline(t time.Time) error      { p.rd.Set(t); return nil }
func (p *peer) SetReadDeadline(t time.Time) error  { p.rd.Set(t); return nil }
func (p *peer) SetWriteDeadline(_ time.Time) error { return nil }

// coapListener hands go-coap's DTLS server the DTLS sessions of the
// mux's peers, wrapped in dtlsConn. It does what pion/dtls's listener
// does, keeping the peer: the session tells it when its handshake is
// complete (peer.nextDTLS).
type coapListener struct {
	m   *udpMux
	cfg *dtls.Config
	st  *stats
}

func (l *coapListener) AcceptWithContext(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, _, err := l.m.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, errListenerClosed
		}
		return nil, err
	}
	p := c.(*peer)
	dc, err := dtls.Server(p, p.addr, l.cfg)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &dtlsConn{Conn: dc, st: l.st, peer: p}, nil
}

func (l *coapListener) Close() error { return l.m.Close() }

// plainListener hands go-coap's DTLS server, which serves the plain port
// too (without a handshake), the peers of the plain port's udpMux: so
// they are bounded as the DTLS port's are (go-coap's UDP server keeps a
// connection for every source address, without a limit).
type plainListener struct{ m *udpMux }

func (l plainListener) AcceptWithContext(ctx context.Context) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, _, err := l.m.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, errListenerClosed
		}
		return nil, err
	}
	return plainConn{c.(*peer)}, nil
}

func (l plainListener) Close() error { return l.m.Close() }

// plainConn is a plain CoAP client (one source address) as a connection.
// Like dtlsConn it drops and counts datagrams that are not CoAP messages
// the gateway serves, and rejects a Confirmable one with a Reset.
type plainConn struct{ *peer }

func (c plainConn) Read(b []byte) (int, error) {
	for {
		d, err := c.next()
		if err != nil {
			return 0, err
		}
		ok, rst := checkCoAP(d)
		if ok && len(d) <= len(b) {
			return copy(b, d), nil
		}
		c.m.st.coapMalformed.Add(1)
		if rst != nil {
			c.Write(rst) // best effort: a failed write shows in the next Read
		}
	}
}

func (c plainConn) Write(b []byte) (int, error) { return c.WriteTo(b, c.addr) }
func (c plainConn) RemoteAddr() net.Addr        { return c.addr }

// dtlsConn is a DTLS session: it remembers the client's PSK identity and
// drops (and counts) datagrams that are not CoAP messages.
type dtlsConn struct {
	*dtls.Conn
	st       *stats
	peer     *peer
	identity string
	done     bool // the handshake completed (go-coap may call HandshakeContext again)
}

// handshakeError is a failed DTLS handshake, counted as such
// (handshake_failed) and not again when go-coap reports it.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "dtls handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// HandshakeContext runs the handshake (go-coap calls it before serving).
func (c *dtlsConn) HandshakeContext(ctx context.Context) error {
	if err := c.Conn.HandshakeContext(ctx); err != nil {
		c.st.handshakeFailed.Add(1)
		return &handshakeError{err}
	}
	if !c.done {
		c.done = true
		c.peer.handshakeDone()
		if s, ok := c.Conn.ConnectionState(); ok {
			c.identity = string(s.IdentityHint)
		}
		c.st.sessions.Add(1)
	}
	return nil
}

// Read returns the next CoAP message of the session. A datagram that is
// not one (checkCoAP) is dropped and counted here, because go-coap's
// DTLS session would not count it, would serve some of them as requests
// (an ACK carrying a request, an Empty message with a token) and ends the
// session at a datagram over its size limit. A Confirmable one whose
// header can be read is rejected with a Reset (RFC 7252 §4.2), as
// go-coap does.
func (c *dtlsConn) Read(b []byte) (int, error) {
	if !c.done {
		// (go-coap runs the handshake first; should a Read come first,
		// pion's implicit handshake would not release held data)
		if err := c.HandshakeContext(context.Background()); err != nil {
			return 0, err
		}
	}
	for {
		n, err := c.Conn.Read(b)
		if err != nil {
			return n, err
		}
		ok, rst := checkCoAP(b[:n])
		if ok {
			return n, nil
		}
		c.st.coapMalformed.Add(1)
		if rst != nil {
			// Best effort: a failed write shows in the next Read.
			c.Conn.Write(rst)
		}
	}
}

// checkCoAP reports whether b is a CoAP message the gateway serves (RFC
// 7252 §3, §4): it decodes, fits MaxMessage, and is not one of the
// message format errors of §4.1–§4.3 (an Empty message with a token or
// bytes after the header, an Empty Non-confirmable message, an
// Acknowledgement or Reset carrying a request, a Reset that is not
// Empty) nor a code of the reserved classes 1, 6 and 7. For a
// Confirmable message that fails, rst is the Reset that rejects it.
func checkCoAP(b []byte) (ok bool, rst []byte) {
	if len(b) < 4 || b[0]>>6 != 1 {
		return false, nil // no header, or another version: ignored (§3)
	}
	typ := message.Type(b[0] >> 4 & 3)
	if typ == message.Confirmable {
		rst = []byte{0x70, 0, b[2], b[3]} // ver 1, RST, TKL 0, 0.00, the message ID
	}
	if len(b) > MaxMessage {
		return false, rst
	}
	var m message.Message
	for n := 16; ; n *= 2 { // as go-coap: more room for options until they fit
		m.Options = make(message.Options, 0, n)
		_, err := coder.DefaultCoder.Decode(b, &m)
		if err == nil {
			break
		}
		if !errors.Is(err, message.ErrOptionsTooSmall) {
			return false, rst
		}
	}
	code := codes.Code(b[1])
	switch class := code >> 5; {
	case code == codes.Empty:
		if len(b) > 4 || typ == message.NonConfirmable {
			return false, rst
		}
	case class == 1 || class >= 6:
		return false, rst
	case class == 0 && (typ == message.Acknowledgement || typ == message.Reset):
		return false, nil // an ACK or RST is rejected by ignoring it (§4.2)
	case typ == message.Reset:
		return false, nil
	}
	return true, nil
}
