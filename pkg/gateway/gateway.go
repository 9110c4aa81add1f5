// Package gateway lets standard clients reach secured micro servers: it
// serves each configured device's tasks as CoAP resources (RFC 7252),
// coaps://GATEWAY/DEVICE/TASK?ARGS, over DTLS 1.2 with a pre-shared key
// and TLS_PSK_WITH_AES_128_CCM_8 only (the RFC 7925 profile), with
// /.well-known/core discovery (RFC 6690), and runs them on the device
// through its ESP or MSSL session (pkg/espsession, pkg/mssl). With an
// https line it serves the same tasks over HTTPS (TLS 1.3 only) as task
// result JSON, and a server-rendered page per device (https.go); HTTPS
// clients authenticate with a bearer token or a client certificate.
//
// Each PSK identity maps to the tasks it may run on each device, the way
// a grant's task set does on the device. Each device has one bounded
// queue served in lock-step by one worker that owns the session and
// reopens it with back-off when the device goes silent. docs/gateway.md
// has the configuration file, the resources and the error codes. The
// package never prints: it logs through Options.Log.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pion/dtls/v3"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
)

var errListenerClosed = coapNet.ErrListenerIsClosed

// ErrPlainNotLoopback: plain CoAP was asked for on an address that is not
// loopback, without Options.AllowPlain.
var ErrPlainNotLoopback = errors.New("gateway: plain CoAP (no DTLS) only on a loopback address")

// Options tune a Gateway. Zero values pick the defaults.
type Options struct {
	// Dial, when set, makes a device's session (tests: a fake device
	// leg); default DialerFor.
	Dial func(d *DeviceConfig) Dialer
	// Log is told of the gateway's events, one line each; SessionLog of
	// the device sessions' own (mstool -v).
	Log        func(msg string)
	SessionLog func(msg string)
	// RequestLog, when set, is told of every CoAP and HTTPS request and
	// its response code: "alice GET /dev1/adc?ch=3: 2.05 Content (14 ms)".
	// The path is the client's: one with a space, a quote, a backslash,
	// a control or other unprintable character is logged Go-quoted
	// (logPath), so that no client writes lines of its own into the log.
	RequestLog func(msg string)
	// AllowPlain allows plain CoAP on an address that is not loopback.
	AllowPlain bool
	// MaxPeers bounds the clients with state at once on each CoAP port:
	// DTLS (handshaking or connected) and plain CoAP (source addresses);
	// HandshakeTimeout and Idle bound how long one is kept.
	MaxPeers         int
	HandshakeTimeout time.Duration
	Idle             time.Duration
}

// Gateway serves a Config.
type Gateway struct {
	cfg     *Config
	opt     Options
	devices map[string]*queue
	order   []*queue
	st      stats
	// stopping is closed when Serve stops: requests waiting for a
	// device are answered at once.
	stopping chan struct{}
	served   atomic.Bool

	mu      sync.Mutex
	dtlsAt  net.Addr
	plainAt net.Addr
	httpsAt net.Addr
	mux     *udpMux

	// HTTPS: the server certificate (https.go) and the last result of
	// each device's tasks (at most 32 per device).
	cert     *tls.Certificate
	certMade bool
	lastMu   sync.Mutex
	last     map[string]LastResult
}

// stats count what the gateway saw.
type stats struct {
	datagrams, dtlsGarbage, peersRefused, overrun    atomic.Uint64
	handshakeFailed, sessions, coapMalformed, errors atomic.Uint64
	requests, dtlsAuthFailed, httpsHandshakeFailed   atomic.Uint64
	byClass                                          [6]atomic.Uint64 // 2.xx .. 5.xx by class
}

// Stats are the gateway's counters (the --json status line).
type Stats struct {
	Datagrams       uint64 `json:"datagrams"`        // UDP datagrams received on the DTLS port
	DTLSGarbage     uint64 `json:"dtls_garbage"`     // dropped: not a ClientHello from a peer without a session, not DTLS records from one with
	DTLSAuthFailed  uint64 `json:"dtls_auth_failed"` // dropped: DTLS records that failed authentication
	PeersRefused    uint64 `json:"peers_refused"`    // dropped: too many peers (DTLS or plain port)
	Overrun         uint64 `json:"overrun"`          // dropped: a peer's reader was behind
	HandshakeFailed uint64 `json:"handshake_failed"` // DTLS handshakes that failed or timed out
	Sessions        uint64 `json:"sessions"`         // DTLS sessions established
	CoAPMalformed   uint64 `json:"coap_malformed"`   // dropped: not a CoAP message the gateway serves (checkCoAP), in a DTLS session or on the plain port
	Errors          uint64 `json:"errors"`           // other errors of the CoAP layer (a response not sent)
	Requests        uint64 `json:"requests"`
	// HTTPSHandshakeFailed counts HTTPS connections closed before their
	// TLS handshake completed (refused, aborted or timed out).
	HTTPSHandshakeFailed uint64         `json:"https_handshake_failed"`
	Success              uint64         `json:"success"`      // 2.xx
	ClientError          uint64         `json:"client_error"` // 4.xx
	ServerError          uint64         `json:"server_error"` // 5.xx
	Peers                int            `json:"peers"`        // DTLS peers with state now
	Devices              []DeviceStatus `json:"devices"`
}

// New checks cfg and opt and makes a Gateway; Serve runs it.
func New(cfg *Config, opt Options) (*Gateway, error) {
	if cfg == nil || len(cfg.Devices) == 0 {
		return nil, errors.New("gateway: no devices")
	}
	if cfg.Plain != "" && !opt.AllowPlain {
		ap, err := netip.ParseAddrPort(cfg.Plain)
		if err != nil || !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("%w: %q", ErrPlainNotLoopback, cfg.Plain)
		}
	}
	if opt.Dial == nil {
		opt.Dial = func(d *DeviceConfig) Dialer { return DialerFor(d, opt.SessionLog) }
	}
	if opt.MaxPeers <= 0 {
		opt.MaxPeers = DefaultMaxPeers
	}
	if opt.HandshakeTimeout <= 0 {
		opt.HandshakeTimeout = DefaultHandshakeLimit
	}
	if opt.Idle <= 0 {
		opt.Idle = DefaultIdle
	}
	g := &Gateway{cfg: cfg, opt: opt, devices: map[string]*queue{}, stopping: make(chan struct{}), last: map[string]LastResult{}}
	if cfg.HTTPS != "" {
		cert, made, err := LoadOrMakeCert(cfg)
		if err != nil {
			return nil, err
		}
		g.cert, g.certMade = cert, made
	}
	for _, d := range cfg.Devices {
		dv := newDevice(d, opt.Dial(d), g.logf)
		g.devices[d.Name] = dv
		g.order = append(g.order, dv)
	}
	return g, nil
}

// logPath is a request's path (and query) as the request log shows it:
// as is when every character is printable and none is a space, a quote
// or a backslash, else Go-quoted ("/x\nalice ..."), so that a client's
// newline or terminal escape sequence cannot forge or hide log lines.
func logPath(p string) string {
	for _, r := range p {
		if r == ' ' || r == '"' || r == '\\' || r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

func (g *Gateway) logf(format string, a ...any) {
	if g.opt.Log != nil {
		g.opt.Log(fmt.Sprintf(format, a...))
	}
}

// Addr is the DTLS listener's address once Serve listens (nil before).
func (g *Gateway) Addr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dtlsAt
}

// HTTPSAddr is the HTTPS listener's address (nil: none, or not yet).
func (g *Gateway) HTTPSAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.httpsAt
}

// CertFingerprint is the HTTPS certificate's SHA-256 fingerprint
// (Fingerprint; "" without HTTPS).
func (g *Gateway) CertFingerprint() string {
	if g.cert == nil {
		return ""
	}
	return Fingerprint(g.cert.Leaf.Raw)
}

// PlainAddr is the plain CoAP listener's address (nil: none, or not yet).
func (g *Gateway) PlainAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.plainAt
}

// Stats returns the counters now.
func (g *Gateway) Stats() Stats {
	s := Stats{
		Datagrams: g.st.datagrams.Load(), DTLSGarbage: g.st.dtlsGarbage.Load(), PeersRefused: g.st.peersRefused.Load(),
		Overrun: g.st.overrun.Load(), HandshakeFailed: g.st.handshakeFailed.Load(), Sessions: g.st.sessions.Load(),
		DTLSAuthFailed: g.st.dtlsAuthFailed.Load(), HTTPSHandshakeFailed: g.st.httpsHandshakeFailed.Load(),
		CoAPMalformed: g.st.coapMalformed.Load(), Errors: g.st.errors.Load(), Requests: g.st.requests.Load(),
		Success: g.st.byClass[2].Load(), ClientError: g.st.byClass[4].Load(), ServerError: g.st.byClass[5].Load(),
	}
	g.mu.Lock()
	if g.mux != nil {
		s.Peers = g.mux.peerCount()
	}
	g.mu.Unlock()
	for _, d := range g.order {
		s.Devices = append(s.Devices, d.status())
	}
	return s
}

// dtlsConfig is the RFC 7925 profile: DTLS 1.2, PSK, one cipher suite,
// the extended master secret (RFC 7627) when the client offers it.
func (g *Gateway) dtlsConfig() *dtls.Config {
	return &dtls.Config{
		CipherSuites: []dtls.CipherSuiteID{dtls.TLS_PSK_WITH_AES_128_CCM_8},
		PSK: func(identity []byte) ([]byte, error) {
			if id := g.cfg.Identity(string(identity)); id != nil && id.PSK != nil {
				return id.PSK, nil
			}
			return nil, fmt.Errorf("gateway: unknown PSK identity %q", identity)
		},
		ExtendedMasterSecret: dtls.RequestExtendedMasterSecret,
		LoggerFactory:        pionLog{&g.st},
	}
}

// Serve, which may run once, listens (cfg.Listen for DTLS, cfg.Plain for plain CoAP when
// set), starts a worker per device and serves until ctx ends; then it
// stops accepting, answers what is queued, closes the device sessions
// and returns nil once everything it started has ended.
func (g *Gateway) Serve(ctx context.Context) error {
	if g.served.Swap(true) {
		return errors.New("gateway: Serve runs once")
	}
	ua, err := net.ResolveUDPAddr("udp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", g.cfg.Listen, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	mux := newUDPMux(pc, g.opt.MaxPeers, &g.st, false)
	dl := &coapListener{m: mux, cfg: g.dtlsConfig(), st: &g.st}
	var plain *udpMux
	if g.cfg.Plain != "" {
		pa, err := net.ResolveUDPAddr("udp", g.cfg.Plain)
		var ppc *net.UDPConn
		if err == nil {
			ppc, err = net.ListenUDP("udp", pa)
		}
		if err != nil {
			dl.Close()
			mux.Close()
			mux.wait()
			return fmt.Errorf("gateway: plain CoAP: %w", err)
		}
		plain = newUDPMux(ppc, g.opt.MaxPeers, &g.st, true)
	}
	var hl net.Listener
	if g.cfg.HTTPS != "" {
		if hl, err = net.Listen("tcp", g.cfg.HTTPS); err != nil {
			if plain != nil {
				plain.Close()
				plain.wait()
			}
			dl.Close()
			mux.Close()
			mux.wait()
			return fmt.Errorf("gateway: https: %w", err)
		}
	}
	g.mu.Lock()
	if hl != nil {
		g.httpsAt = hl.Addr()
	}
	g.dtlsAt, g.mux = pc.LocalAddr(), mux
	if plain != nil {
		g.plainAt = plain.Addr()
	}
	g.mu.Unlock()

	wctx, stopWorkers := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for _, d := range g.order {
		workers.Add(1)
		go func() {
			defer workers.Done()
			d.run(wctx)
		}()
	}
	h := &handler{g: g}
	srv := h.dtlsServer(ctx)
	var servers sync.WaitGroup
	servers.Add(1)
	go func() {
		defer servers.Done()
		srv.Serve(dl)
	}()
	var psrv interface{ Stop() }
	if plain != nil {
		ps := h.plainServer(ctx)
		psrv = ps
		servers.Add(1)
		go func() {
			defer servers.Done()
			ps.Serve(plainListener{plain})
		}()
	}
	var hsrv *http.Server
	if hl != nil {
		hsrv = g.httpsServer()
		servers.Add(1)
		go func() {
			defer servers.Done()
			hsrv.ServeTLS(hl, "", "")
		}()
	}
	g.logf("listening on %s (CoAP over DTLS, PSK, TLS_PSK_WITH_AES_128_CCM_8)", pc.LocalAddr())
	if hl != nil {
		how := "given"
		if g.certMade {
			how = "made now: " + g.cfg.CertFile
		} else if g.cfg.CertAuto {
			how = "made earlier: " + g.cfg.CertFile
		}
		g.logf("listening on %s (HTTPS, TLS 1.3; certificate %s, %s)", hl.Addr(), Fingerprint(g.cert.Leaf.Raw), how)
	}
	if plain != nil {
		g.logf("listening on %s (plain CoAP, as identity %s)", plain.Addr(), g.cfg.PlainIdentity)
	}

	<-ctx.Done()
	g.logf("stopping")
	close(g.stopping) // handlers waiting for a device answer 5.03 now
	srv.Stop()
	if hsrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hsrv.Shutdown(sctx)
		cancel()
		hsrv.Close()
	}
	dl.Close()
	mux.Close()
	if psrv != nil {
		psrv.Stop()
		plain.Close()
	}
	servers.Wait()
	mux.wait()
	if plain != nil {
		plain.wait()
	}
	stopWorkers()
	workers.Wait()
	return nil
}
