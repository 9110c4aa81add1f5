package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/options"
	coapudp "github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/mstool/mstool/internal/taskfake"
	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/tasks"
)

// fakeDevice is a device leg in memory: it answers the built-in tasks
// through the tests' one fake task service (internal/taskfake: device id
// 7, adc channel c reads 0x0200|c), uptime as a device whose grant lacks
// it, counters as one built without it, and can be made silent, slow
// (gated) or unreachable.
type fakeDevice struct {
	mu      sync.Mutex
	silent  bool          // Task fails (no answer)
	down    bool          // Dial fails
	gate    chan struct{} // when set, Task waits for a value (or ctx)
	started chan struct{} // when set, told of each Task
	dials   atomic.Int32
	svc     taskfake.Service
}

func newFakeDevice() *fakeDevice { return &fakeDevice{svc: taskfake.Service{DeviceID: 7}} }

type fakeSession struct{ d *fakeDevice }

func (d *fakeDevice) dial(ctx context.Context) (Session, error) {
	d.dials.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, errors.New("fake: no such port")
	}
	return fakeSession{d}, nil
}

func (d *fakeDevice) set(f func(d *fakeDevice)) {
	d.mu.Lock()
	f(d)
	d.mu.Unlock()
}

func (s fakeSession) Task(ctx context.Context, t tasks.Task, args []byte) (tasks.Reply, error) {
	d := s.d
	d.mu.Lock()
	gate, started, silent := d.gate, d.started, d.silent
	d.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return tasks.Reply{}, ctx.Err()
		}
	}
	if silent {
		return tasks.Reply{}, errors.New("fake: no answer from the device")
	}
	r := tasks.Reply{Task: t, ID: 1}
	switch t {
	case tasks.TaskUptime:
		r.Status = tasks.StatusDenied // as a device whose grant lacks it
	case tasks.TaskCounters:
		r.Status = tasks.StatusUnknownTask // as a device built without it
	default:
		r.Status, r.Result = d.svc.Run(t, args)
	}
	return r, nil
}

func (fakeSession) Close() error { return nil }

const (
	keyAlice = "000102030405060708090a0b0c0d0e0f"
	keyBob   = "101112131415161718191a1b1c1d1e1f"
)

// testConfig writes PSK files and parses a configuration with devices
// dev1 and dev2 (fake legs) and identities alice (everything) and bob
// (id on dev1).
func testConfig(t *testing.T, extra string) *Config {
	t.Helper()
	dir := t.TempDir()
	for name, key := range map[string]string{"alice.psk": keyAlice, "bob.psk": keyBob} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sa := filepath.Join(dir, "x.sa")
	text := fmt.Sprintf(`mstool-gateway 1
listen 127.0.0.1:0
device dev1 port=/dev/null esp=%[1]s
device dev2 port=/dev/null esp=%[1]s queue=2
identity alice psk=alice.psk tasks=all
identity bob psk=bob.psk tasks=id devices=dev1
%s`, sa, extra)
	c, err := ParseConfig(strings.NewReader(text), "test.conf", dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testGW struct {
	g      *Gateway
	devs   map[string]*fakeDevice
	cancel context.CancelFunc
	done   chan error
}

func startGW(t *testing.T, cfg *Config, opt Options) *testGW {
	t.Helper()
	tg := &testGW{devs: map[string]*fakeDevice{}, done: make(chan error, 1)}
	for _, d := range cfg.Devices {
		tg.devs[d.Name] = newFakeDevice()
	}
	opt.Dial = func(d *DeviceConfig) Dialer { return tg.devs[d.Name].dial }
	opt.Log = func(msg string) { t.Log(msg) }
	if rl := opt.RequestLog; rl != nil {
		opt.RequestLog = func(msg string) { t.Log(msg); rl(msg) }
	} else {
		opt.RequestLog = func(msg string) { t.Log(msg) }
	}
	g, err := New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	tg.g = g
	ctx, cancel := context.WithCancel(context.Background())
	tg.cancel = cancel
	go func() { tg.done <- g.Serve(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for g.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the gateway does not listen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(tg.stop)
	return tg
}

func (tg *testGW) stop() {
	if tg.cancel == nil {
		return
	}
	tg.cancel()
	<-tg.done
	tg.cancel = nil
}

func dialCoAPS(t *testing.T, addr net.Addr, identity, keyHex string) *udpClient.Conn {
	t.Helper()
	cc, err := dialSuite(addr, identity, keyHex, piondtls.TLS_PSK_WITH_AES_128_CCM_8)
	if err != nil {
		t.Fatalf("dtls dial as %s: %v", identity, err)
	}
	t.Cleanup(func() { cc.Close(); <-cc.Done() })
	return cc
}

func dialSuite(addr net.Addr, identity, keyHex string, suite piondtls.CipherSuiteID) (*udpClient.Conn, error) {
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		panic(err)
	}
	conn, err := piondtls.Dial("udp", addr.(*net.UDPAddr), &piondtls.Config{
		PSK:             func([]byte) ([]byte, error) { return key, nil },
		PSKIdentityHint: []byte(identity),
		CipherSuites:    []piondtls.CipherSuiteID{suite},
	})
	if err != nil {
		return nil, err
	}
	// The handshake, bounded. go-coap's client would run it from its
	// reader without a deadline, holding pion's handshake lock, so that a
	// request's context no longer bounds it: a handshake the gateway
	// drops in silence (a wrong key's Finished) then hangs the request.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return coapdtls.Client(conn, options.WithCloseSocket()), nil
}

type answer struct {
	code codes.Code
	body string
	cf   message.MediaType
}

func request(t *testing.T, cc *udpClient.Conn, method codes.Code, path string, payload string, opts ...message.Option) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, q, _ := strings.Cut(path, "?")
	for _, x := range strings.Split(q, "&") {
		if x != "" {
			opts = append(opts, message.Option{ID: message.URIQuery, Value: []byte(x)})
		}
	}
	var m *pool.Message
	var err error
	if method == codes.PUT {
		m, err = cc.Put(ctx, p, message.TextPlain, bytes.NewReader([]byte(payload)), opts...)
	} else {
		m, err = cc.Get(ctx, p, opts...)
	}
	if err != nil {
		t.Fatalf("%v %s: %v", method, path, err)
	}
	var a answer
	a.code = m.Code()
	a.cf, _ = m.ContentFormat()
	if m.Body() != nil {
		b, _ := io.ReadAll(m.Body())
		a.body = string(b)
	}
	return a
}

func TestGatewayResponses(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{})
	alice := dialCoAPS(t, tg.g.Addr(), "alice", keyAlice)
	bob := dialCoAPS(t, tg.g.Addr(), "bob", keyBob)
	for _, tc := range []struct {
		name    string
		cc      *udpClient.Conn
		method  codes.Code
		path    string
		payload string
		code    codes.Code
		body    string // substring
	}{
		{"adc", alice, codes.GET, "/dev1/adc?ch=3", "", codes.Content, "adc: 515"},
		{"adc positional", alice, codes.GET, "/dev1/adc?5", "", codes.Content, "adc: 517"},
		{"adc channel alias", alice, codes.GET, "/dev1/adc?channel=2", "", codes.Content, "adc: 514"},
		{"id", alice, codes.GET, "/dev1/id", "", codes.Content, "device_id: 0x00000007"},
		{"unknown device", alice, codes.GET, "/nodev/id", "", codes.NotFound, "no device"},
		{"unknown task", alice, codes.GET, "/dev1/nope", "", codes.NotFound, "no task"},
		{"not a task path", alice, codes.GET, "/dev1", "", codes.NotFound, "/DEVICE/TASK"},
		{"denied task", bob, codes.GET, "/dev1/adc?ch=1", "", codes.Forbidden, "may not run adc"},
		{"denied device", bob, codes.GET, "/dev2/id", "", codes.Forbidden, "may not"},
		{"bob's task", bob, codes.GET, "/dev1/id", "", codes.Content, "mcu: atmega328p"},
		{"bad channel", alice, codes.GET, "/dev1/adc?ch=9", "", codes.BadRequest, "channel"},
		{"unknown argument", alice, codes.GET, "/dev1/adc?x=1", "", codes.BadRequest, "unknown argument"},
		{"missing argument", alice, codes.GET, "/dev1/adc", "", codes.BadRequest, "adc takes"},
		{"led read by GET", alice, codes.GET, "/dev1/led", "", codes.Content, "led: false"},
		{"led on by GET", alice, codes.GET, "/dev1/led?op=on", "", codes.MethodNotAllowed, "use PUT"},
		{"led on by PUT", alice, codes.PUT, "/dev1/led", "on", codes.Changed, "led: true"},
		{"settings-write", alice, codes.PUT, "/dev1/settings-write?index=1", "4660", codes.Changed, "value: 4660"},
		{"settings-read", alice, codes.GET, "/dev1/settings-read?index=1", "", codes.Content, "value: 4660"},
		{"read by PUT", alice, codes.PUT, "/dev1/id", "", codes.MethodNotAllowed, "use GET"},
		{"device refuses", alice, codes.GET, "/dev1/uptime", "", codes.Forbidden, "grant does not permit"},
		{"device unknown task", alice, codes.GET, "/dev1/counters", "", codes.NotFound, "does not know"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := request(t, tc.cc, tc.method, tc.path, tc.payload)
			if a.code != tc.code || !strings.Contains(a.body, tc.body) {
				t.Errorf("%v %s: %v %q, want %v with %q", tc.method, tc.path, a.code, a.body, tc.code, tc.body)
			}
		})
	}

	a := request(t, alice, codes.GET, "/dev1/adc?ch=3", "", message.Option{ID: message.Accept, Value: []byte{50}})
	var r tasks.Result
	if a.cf != message.AppJSON || json.Unmarshal([]byte(a.body), &r) != nil || r.Result["adc"] != float64(515) || r.Transport != "esp" {
		t.Errorf("JSON: %v %v %s", a.code, a.cf, a.body)
	}

	wk := request(t, bob, codes.GET, "/.well-known/core", "")
	if wk.cf != message.AppLinkFormat || wk.body != `</dev1/id>;rt="mstool.task";if="mstool.get";ct="0 50"` {
		t.Errorf("bob's /.well-known/core: %v %q", wk.cf, wk.body)
	}
	wk = request(t, alice, codes.GET, "/.well-known/core", "")
	for _, want := range []string{`</dev1/adc>;rt="mstool.task";if="mstool.get";ct="0 50";title="ch"`, `</dev2/settings-write>;rt="mstool.task";if="mstool.put"`} {
		if !strings.Contains(wk.body, want) {
			t.Errorf("alice's /.well-known/core lacks %s: %s", want, wk.body)
		}
	}
	if s := tg.g.Stats(); s.Sessions != 2 || s.Success == 0 || s.ClientError == 0 {
		t.Errorf("stats: %+v", s)
	}
}

// The checks run in the order docs/gateway.md, "Errors", gives: the path
// and names (4.04), permission (4.03), the payload format (4.15), the
// arguments (4.00), the method (4.05), Accept (4.06). A task answers in
// text/plain or application/json only: Accept: application/link-format
// (40) on a task is 4.06 (RFC 7252 §5.10.4), as is any Accept but 40 on
// /.well-known/core.
func TestGatewayOrderOfChecks(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{})
	alice := dialCoAPS(t, tg.g.Addr(), "alice", keyAlice)
	bob := dialCoAPS(t, tg.g.Addr(), "bob", keyBob)
	accept := func(cf byte) message.Option { return message.Option{ID: message.Accept, Value: []byte{cf}} }
	for _, tc := range []struct {
		name   string
		cc     *udpClient.Conn
		method codes.Code
		path   string
		cf     message.MediaType // PUT's Content-Format
		opts   []message.Option
		code   codes.Code
	}{
		{"link-format on a task", alice, codes.GET, "/dev1/adc?ch=3", 0, []message.Option{accept(40)}, codes.NotAcceptable},
		{"link-format on /.well-known/core", alice, codes.GET, "/.well-known/core", 0, []message.Option{accept(40)}, codes.Content},
		{"JSON on /.well-known/core", alice, codes.GET, "/.well-known/core", 0, []message.Option{accept(50)}, codes.NotAcceptable},
		{"Accept: 4.04 first", alice, codes.GET, "/nodev/id", 0, []message.Option{accept(40)}, codes.NotFound},
		{"Accept: 4.04 first (path)", alice, codes.GET, "/dev1/adc/x", 0, []message.Option{accept(40)}, codes.NotFound},
		{"Accept: 4.03 first", bob, codes.GET, "/dev1/adc?ch=3", 0, []message.Option{accept(40)}, codes.Forbidden},
		{"Accept: 4.00 first", alice, codes.GET, "/dev1/adc?ch=9", 0, []message.Option{accept(41)}, codes.BadRequest},
		{"Accept: 4.05 first", alice, codes.GET, "/dev1/led?op=on", 0, []message.Option{accept(40)}, codes.MethodNotAllowed},
		{"POST: 4.04 first", alice, codes.POST, "/nodev/id", 0, nil, codes.NotFound},
		{"POST: 4.03 first", bob, codes.POST, "/dev1/adc?ch=3", 0, nil, codes.Forbidden},
		{"POST: 4.00 first", alice, codes.POST, "/dev1/adc?x=1", 0, nil, codes.BadRequest},
		{"POST", alice, codes.POST, "/dev1/adc?ch=3", 0, nil, codes.MethodNotAllowed},
		{"DELETE", alice, codes.DELETE, "/dev1/id", 0, nil, codes.MethodNotAllowed},
		{"format: 4.03 first", bob, codes.PUT, "/dev1/settings-write?x=1", message.AppCBOR, nil, codes.Forbidden},
		{"format before arguments", alice, codes.PUT, "/dev1/settings-write?x=1", message.AppCBOR, nil, codes.UnsupportedMediaType},
		{"arguments before the method", alice, codes.PUT, "/dev1/id?x=1", message.TextPlain, nil, codes.BadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, q, _ := strings.Cut(tc.path, "?")
			opts := tc.opts
			if q != "" {
				opts = append(opts, message.Option{ID: message.URIQuery, Value: []byte(q)})
			}
			var m *pool.Message
			var err error
			switch tc.method {
			case codes.GET:
				m, err = tc.cc.Get(ctx, p, opts...)
			case codes.PUT:
				m, err = tc.cc.Put(ctx, p, tc.cf, bytes.NewReader([]byte("1 2")), opts...)
			case codes.POST:
				m, err = tc.cc.Post(ctx, p, message.TextPlain, bytes.NewReader(nil), opts...)
			case codes.DELETE:
				m, err = tc.cc.Delete(ctx, p, opts...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Code() != tc.code {
				b, _ := m.ReadBody()
				cf, _ := m.ContentFormat()
				t.Errorf("%v %s: %v (content-format %v) %q, want %v", tc.method, tc.path, m.Code(), cf, b, tc.code)
			}
		})
	}
}

func TestGatewayWrongKey(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{HandshakeTimeout: time.Second})
	for _, c := range []struct {
		id, key string
		suite   piondtls.CipherSuiteID
	}{
		{"alice", keyBob, piondtls.TLS_PSK_WITH_AES_128_CCM_8},
		{"mallory", keyAlice, piondtls.TLS_PSK_WITH_AES_128_CCM_8},
		{"alice", keyAlice, piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256},
	} {
		cc, err := dialSuite(tg.g.Addr(), c.id, c.key, c.suite)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = cc.Get(ctx, "/dev1/id")
		cancel()
		cc.Close()
		if err == nil {
			t.Errorf("%s, key %s, suite %v: answered", c.id, c.key, c.suite)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for tg.g.Stats().HandshakeFailed < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stats: %+v", tg.g.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The wrong key's Finished fails authentication.
	if s := tg.g.Stats(); s.Sessions != 0 || s.DTLSAuthFailed == 0 {
		t.Errorf("stats: %+v", s)
	}
}

// The queue: one task runs, queue=2 wait, the next is refused with 5.03;
// a silent device gives 5.04 and the session is reopened.
func TestGatewayQueueAndSilence(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{})
	d := tg.devs["dev2"]
	gate, started := make(chan struct{}), make(chan struct{}, 8)
	d.set(func(d *fakeDevice) { d.gate, d.started = gate, started })
	ctx := context.Background()
	req := func() *Request {
		return &Request{Identity: "alice", Device: "dev2", Task: "adc", Query: []string{"ch=1"}, Format: FormatNone}
	}
	results := make(chan *Response, 3)
	go func() { results <- tg.g.Do(ctx, req()) }()
	<-started // the first runs on the device
	for i := 0; i < 2; i++ {
		go func() { results <- tg.g.Do(ctx, req()) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for tg.g.Stats().Devices[1].Queued != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the requests do not queue")
		}
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	if r := tg.g.Do(ctx, req()); r.Outcome != Busy || CoAPCode(r.Outcome, GET) != codes.ServiceUnavailable {
		t.Fatalf("full queue: %+v", r)
	}
	if time.Since(t0) > 100*time.Millisecond {
		t.Errorf("a full queue answered after %v", time.Since(t0))
	}
	// dev1 is not held up by dev2.
	if r := tg.g.Do(ctx, &Request{Identity: "alice", Device: "dev1", Task: "id", Format: FormatNone}); r.Outcome != OK {
		t.Fatalf("dev1 while dev2 is busy: %+v", r)
	}
	close(gate)
	for i := 0; i < 3; i++ {
		if r := <-results; r.Outcome != OK {
			t.Errorf("queued request: %+v", r)
		}
	}
	if st := tg.g.Stats().Devices[1]; st.Busy != 1 || st.Served != 3 {
		t.Errorf("dev2: %+v", st)
	}

	// Silent: 5.04, the session is closed and dialled again; while the
	// device cannot be reached, 5.04 without waiting.
	d.set(func(d *fakeDevice) { d.gate, d.started, d.silent, d.down = nil, nil, true, true })
	if r := tg.g.Do(ctx, req()); r.Outcome != Unreachable || CoAPCode(r.Outcome, GET) != codes.GatewayTimeout {
		t.Fatalf("silent device: %+v", r)
	}
	t0 = time.Now()
	if r := tg.g.Do(ctx, req()); r.Outcome != Unreachable {
		t.Fatalf("unreachable device: %+v", r)
	}
	if time.Since(t0) > time.Second {
		t.Errorf("5.04 for an unreachable device took %v", time.Since(t0))
	}
	// The device is back (rebooted): the back-off timer reconnects.
	d.set(func(d *fakeDevice) { d.silent, d.down = false, false })
	deadline = time.Now().Add(10 * time.Second)
	for !tg.g.Stats().Devices[1].Up {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %+v", tg.g.Stats().Devices[1])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := tg.g.Do(ctx, req()); r.Outcome != OK {
		t.Fatalf("after the reboot: %+v", r)
	}
	if n := d.dials.Load(); n < 3 {
		t.Errorf("%d dials", n)
	}
}

// Shutdown answers queued requests and ends every goroutine and socket
// the gateway started.
func TestGatewayNoLeak(t *testing.T) {
	cfg := testConfig(t, "plain 127.0.0.1:0 identity=alice\n")
	runtime.GC()
	g0, fd0 := goroutines(), fds(t)
	for i := 0; i < 3; i++ {
		tg := startGW(t, cfg, Options{})
		cc := dialCoAPS(t, tg.g.Addr(), "alice", keyAlice)
		if a := request(t, cc, codes.GET, "/dev1/id", ""); a.code != codes.Content {
			t.Fatalf("id: %v %s", a.code, a.body)
		}
		// A request held at the device when the gateway stops.
		gate := make(chan struct{})
		started := make(chan struct{}, 1)
		tg.devs["dev1"].set(func(d *fakeDevice) { d.gate, d.started = gate, started })
		res := make(chan *Response, 1)
		go func() {
			res <- tg.g.Do(context.Background(), &Request{Identity: "alice", Device: "dev1", Task: "id", Format: FormatNone})
		}()
		<-started
		cc.Close()
		<-cc.Done()
		tg.stop()
		if r := <-res; r.Outcome != Busy {
			t.Errorf("request during shutdown: %+v", r)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		g1, fd1 := goroutines(), fds(t)
		if g1 <= g0 && fd1 <= fd0 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d -> %d, fds %d -> %d\n%s", g0, g1, fd0, fd1, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func goroutines() int { return runtime.NumGoroutine() }

func fds(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		testenv.Missing(t, "/proc/self/fd", "the descriptor-leak check counts open files there (Linux)")
	}
	return len(es)
}

// A flood of garbage, of ClientHello-shaped datagrams from many ports and
// of malformed CoAP inside a session is dropped and counted, in bounded
// time and goroutines, and a client is still served.
func TestGatewayFlood(t *testing.T) {
	const maxPeers = 16
	tg := startGW(t, testConfig(t, ""), Options{MaxPeers: maxPeers, HandshakeTimeout: 2 * time.Second})
	addr := tg.g.Addr().(*net.UDPAddr)
	base := goroutines()
	var m0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	const garbage, hellos = 5000, 200
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The kernel drops what the socket buffer cannot hold; every
	// datagram the gateway reads is accounted for. absorbed waits until
	// the gateway has read what reached it (no new datagram for 250 ms).
	maxG, last := 0, uint64(0)
	absorbed := func() {
		for stable := 0; stable < 50; {
			s := tg.g.Stats()
			maxG = max(maxG, goroutines())
			if s.Peers > maxPeers {
				t.Fatalf("%d peers", s.Peers)
			}
			if s.Datagrams == last {
				stable++
			} else {
				last, stable = s.Datagrams, 0
			}
			if time.Since(t0) > 10*time.Second {
				t.Fatalf("flood not absorbed in 10 s: %+v", s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// In bursts of 500 the socket buffer can hold (one burst of 5000
	// overflowed it on a loaded machine: 654 read, fewer than the check
	// below wants).
	junk := make([]byte, 100)
	for i := 0; i < garbage; i++ {
		junk[0] = byte(i)
		c.Write(junk)
		if i%500 == 499 {
			absorbed()
		}
	}
	absorbed()
	// ClientHello-shaped, from hellos source ports: state for at most
	// maxPeers of them. Sent once the garbage is read, so that the
	// socket buffer has room for them (under load the garbage alone
	// fills it).
	hello := make([]byte, 60)
	copy(hello, []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 47, 1})
	var conns []*net.UDPConn
	for i := 0; i < hellos; i++ {
		hc, err := net.DialUDP("udp", nil, addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, hc)
		hc.Write(hello)
	}
	absorbed()
	s := tg.g.Stats()
	t.Logf("after the flood: %+v", s)
	if s.DTLSGarbage < 1000 || s.PeersRefused == 0 || s.Datagrams-s.DTLSGarbage-s.PeersRefused > hellos {
		t.Errorf("after the flood: %+v", s)
	}
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	if grew := int64(m1.HeapInuse) - int64(m0.HeapInuse); grew > 16<<20 {
		t.Errorf("the heap grew by %d bytes during the flood", grew)
	}
	if maxG > base+maxPeers*8 {
		t.Errorf("goroutines %d -> %d during the flood", base, maxG)
	}
	for _, hc := range conns {
		hc.Close()
	}
	// The half-open peers time out; then a client is served.
	deadline := time.Now().Add(10 * time.Second)
	for tg.g.Stats().Peers != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("half-open peers stay: %+v", tg.g.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("flood took %v", d)
	}

	// Malformed CoAP in an authenticated session is dropped and counted,
	// each of them; the session still serves a request.
	dc := rawSession(t, addr, "alice", keyAlice)
	s0 := tg.g.Stats()
	const malformed = 10
	for i := 0; i < malformed; i++ {
		if _, err := dc.Write([]byte{0xff, 0xff, 0xff}); err != nil {
			t.Fatal(err)
		}
	}
	if code, rsts := rawGet(t, dc, 1, "/dev1/adc?ch=0"); code != codes.Content || rsts != 0 {
		t.Fatalf("after the flood: %v, %d resets", code, rsts)
	}
	if s := tg.g.Stats(); s.CoAPMalformed-s0.CoAPMalformed != malformed || s.Overrun != 0 {
		t.Errorf("%d malformed in a session: %+v", malformed, s)
	}
	cc := dialCoAPS(t, tg.g.Addr(), "alice", keyAlice)
	if a := request(t, cc, codes.GET, "/dev1/adc?ch=0", ""); a.code != codes.Content {
		t.Fatalf("after the flood: %v %s", a.code, a.body)
	}
}

// rawSession is a DTLS session without a CoAP client on it: the test
// writes datagrams of its choice.
func rawSession(t *testing.T, addr net.Addr, identity, keyHex string) *piondtls.Conn {
	t.Helper()
	key, _ := hex.DecodeString(keyHex)
	dc, err := piondtls.Dial("udp", addr.(*net.UDPAddr), &piondtls.Config{
		PSK:             func([]byte) ([]byte, error) { return key, nil },
		PSKIdentityHint: []byte(identity),
		CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
	})
	if err != nil {
		t.Fatalf("dtls dial as %s: %v", identity, err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc
}

// rawGet sends a confirmable GET with message ID mid on a raw session and
// reads until its piggy-backed response: its code, and how many Resets
// came before it.
func rawGet(t *testing.T, dc *piondtls.Conn, mid uint16, path string) (codes.Code, int) {
	t.Helper()
	p, q, _ := strings.Cut(path, "?")
	m := message.Message{Code: codes.GET, Type: message.Confirmable, MessageID: int32(mid), Token: []byte{0x7a, byte(mid)}}
	var err error
	if m.Options, _, err = m.Options.SetPath(make([]byte, 64), p); err != nil {
		t.Fatal(err)
	}
	if q != "" {
		m.Options = m.Options.Add(message.Option{ID: message.URIQuery, Value: []byte(q)})
	}
	b := make([]byte, 256)
	n, err := coder.DefaultCoder.Encode(m, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Write(b[:n]); err != nil {
		t.Fatal(err)
	}
	dc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer dc.SetReadDeadline(time.Time{})
	rsts := 0
	for {
		n, err := dc.Read(b)
		if err != nil {
			t.Fatalf("GET %s: %v (%d resets before)", path, err, rsts)
		}
		var r message.Message
		r.Options = make(message.Options, 0, 16)
		if _, err := coder.DefaultCoder.Decode(b[:n], &r); err != nil {
			t.Fatalf("GET %s: an answer that is not CoAP: %x", path, b[:n])
		}
		switch {
		case r.Type == message.Reset && r.Code == codes.Empty && n == 4:
			rsts++
		case r.Type == message.Acknowledgement && r.MessageID == int32(mid) && bytes.Equal(r.Token, m.Token):
			return r.Code, rsts
		default:
			t.Fatalf("GET %s: unexpected %v %v (mid %d)", path, r.Type, r.Code, r.MessageID)
		}
	}
}

// Every kind of malformed CoAP message inside a session is dropped and
// counted, a confirmable one whose header can be read is reset, none
// runs a task or ends the session, and a request sent after them on the
// same session is served.
func TestGatewayMalformedCoAPInSession(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{})
	bad := []struct {
		name  string
		b     []byte
		reset bool
	}{
		{"too short", []byte{0xff, 0xff, 0xff}, false},
		{"version 2", []byte{0x80, 0x01, 0x00, 0x01}, false},
		{"token length 15", []byte{0x4f, 0x01, 0x00, 0x02}, true},
		{"reserved option delta 15", []byte{0x40, 0x01, 0x00, 0x03, 0xf0}, true},
		{"option truncated", []byte{0x50, 0x01, 0x00, 0x04, 0xb5, 'a'}, false},
		{"payload marker without payload", []byte{0x40, 0x01, 0x00, 0x05, 0xff}, true},
		{"Empty with a token", []byte{0x41, 0x00, 0x00, 0x06, 0x01}, true},
		{"Empty with bytes", []byte{0x40, 0x00, 0x00, 0x07, 0xff, 0x01}, true},
		{"Empty non-confirmable", []byte{0x50, 0x00, 0x00, 0x08}, false},
		{"ACK carrying a request", []byte{0x60, 0x01, 0x00, 0x09}, false},
		{"RST that is not Empty", []byte{0x70, 0x45, 0x00, 0x0a}, false},
		{"reserved class 1", []byte{0x50, 0x20, 0x00, 0x0b}, false},
		{"reserved class 7", []byte{0x40, 0xe0, 0x00, 0x0c}, true},
		{"over MaxMessage", append([]byte{0x50, 0x01, 0x00, 0x0d, 0xff}, make([]byte, MaxMessage)...), false},
	}
	dc := rawSession(t, tg.g.Addr(), "alice", keyAlice)
	resets := 0
	for i, x := range bad {
		if ok, rst := checkCoAP(x.b); ok || (rst != nil) != x.reset {
			t.Errorf("%s: checkCoAP %v, reset %x", x.name, ok, rst)
		}
		if _, err := dc.Write(x.b); err != nil {
			t.Fatal(err)
		}
		if x.reset {
			resets++
		}
		// A few at a time: the session's backlog is bounded (overrun).
		if i%4 == 3 || i == len(bad)-1 {
			if code, n := rawGet(t, dc, uint16(100+i), "/dev1/adc?ch=1"); code != codes.Content || n != resets {
				t.Fatalf("after %s: %v, %d resets (want %d)", x.name, code, n, resets)
			}
			resets = 0
		}
	}
	s := tg.g.Stats()
	if s.CoAPMalformed != uint64(len(bad)) || s.Requests != 4 || s.Success != 4 || s.Errors != 0 || s.Overrun != 0 || s.Sessions != 1 {
		t.Errorf("%d malformed: %+v", len(bad), s)
	}
	// A ping (an Empty confirmable message) is not malformed.
	if ok, _ := checkCoAP([]byte{0x40, 0x00, 0x00, 0x01}); !ok {
		t.Error("a CoAP ping is malformed")
	}
}

func TestGatewayPlainLoopbackOnly(t *testing.T) {
	cfg := testConfig(t, "plain 0.0.0.0:5683 identity=bob\n")
	if _, err := New(cfg, Options{}); !errors.Is(err, ErrPlainNotLoopback) {
		t.Fatalf("plain CoAP on 0.0.0.0: %v", err)
	}
	if _, err := New(cfg, Options{AllowPlain: true}); err != nil {
		t.Fatal(err)
	}
}

// A client that gives up costs neither a reconnect (running) nor a task
// (queued).
func TestGatewayClientGivesUp(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{})
	d := tg.devs["dev1"]
	gate, started := make(chan struct{}), make(chan struct{}, 8)
	d.set(func(d *fakeDevice) { d.gate, d.started = gate, started })
	req := &Request{Identity: "alice", Device: "dev1", Task: "id", Format: FormatNone}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	res := make(chan *Response, 2)
	go func() { res <- tg.g.Do(ctx1, req) }()
	<-started
	go func() { res <- tg.g.Do(ctx2, req) }()
	for tg.g.Stats().Devices[0].Queued != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel2() // queued
	cancel1() // running
	for i := 0; i < 2; i++ {
		if r := <-res; r.Outcome != Unreachable {
			t.Errorf("given up: %+v", r)
		}
	}
	d.set(func(d *fakeDevice) { d.gate, d.started = nil, nil })
	if r := tg.g.Do(context.Background(), req); r.Outcome != OK {
		t.Fatalf("next request: %+v", r)
	}
	if st := tg.g.Stats().Devices[0]; d.dials.Load() != 1 || st.Served != 1 || st.Silent != 0 {
		t.Errorf("dials %d, %+v", d.dials.Load(), st)
	}
	select {
	case <-started:
		t.Error("the queued request that was given up reached the device")
	default:
	}
}

// Plain CoAP on loopback runs as the configured identity.
func TestGatewayPlain(t *testing.T) {
	tg := startGW(t, testConfig(t, "plain 127.0.0.1:0 identity=bob\n"), Options{})
	for tg.g.PlainAddr() == nil {
		time.Sleep(time.Millisecond)
	}
	cc, err := coapudp.Dial(tg.g.PlainAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if a := request(t, cc, codes.GET, "/dev1/id", ""); a.code != codes.Content {
		t.Errorf("plain GET /dev1/id: %v %s", a.code, a.body)
	}
	if a := request(t, cc, codes.GET, "/dev1/adc?ch=1", ""); a.code != codes.Forbidden {
		t.Errorf("plain GET /dev1/adc: %v %s", a.code, a.body)
	}
	c, err := net.Dial("udp", tg.g.PlainAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x4f, 0x01, 0x00, 0x01}) // version 1, token length 15
	deadline := time.Now().Add(5 * time.Second)
	for tg.g.Stats().CoAPMalformed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("malformed plain CoAP not counted: %+v", tg.g.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The plain CoAP port keeps state for at most MaxPeers source addresses,
// as the DTLS port: requests from 2000 source ports cost goroutines and
// heap for MaxPeers of them (go-coap's UDP server kept a connection for
// each, 60 s: +1550 goroutines, 12 MB), the others are dropped and
// counted (peers_refused); once the peers' idle time has passed, a client
// is served again.
func TestGatewayPlainPeersBounded(t *testing.T) {
	const maxPeers = 32
	tg := startGW(t, testConfig(t, "plain 127.0.0.1:0 identity=bob\n"), Options{MaxPeers: maxPeers, Idle: time.Second})
	addr := tg.g.PlainAddr().(*net.UDPAddr)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := goroutines()
	const n = 2000
	for i := 0; i < n; i++ {
		c, err := net.DialUDP("udp", nil, addr)
		if err != nil {
			t.Fatal(err)
		}
		// NON GET /.well-known/core, message id i, no token.
		c.Write([]byte{0x50, 0x01, byte(i >> 8), byte(i), 0xbb, '.', 'w', 'e', 'l', 'l', '-', 'k', 'n', 'o', 'w', 'n', 0x04, 'c', 'o', 'r', 'e'})
		c.Close()
	}
	s := waitStats(t, tg.g, "the flood is not refused", func(s Stats) bool { return s.PeersRefused > 0 })
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := goroutines()
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("after %d source ports: goroutines %d -> %d, heap in use %+d KB, %+v", n, g0, g1, heap>>10, s)
	if g1-g0 > maxPeers*8 || heap > 8<<20 {
		t.Errorf("plain CoAP state grows with the number of source addresses: %+d goroutines, %+d KB heap for %d ports (at most %d peers)", g1-g0, heap>>10, n, maxPeers)
	}
	if s.CoAPMalformed != 0 {
		t.Errorf("the requests were counted malformed: %+v", s)
	}
	// The peers go after their idle second; then a client is served.
	deadline := time.Now().Add(10 * time.Second)
	for goroutines() > g0+4 {
		if time.Now().After(deadline) {
			t.Fatalf("the plain peers stay: goroutines %d -> %d", g0, goroutines())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cc, err := coapudp.Dial(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if a := request(t, cc, codes.GET, "/dev1/id", ""); a.code != codes.Content {
		t.Errorf("plain GET /dev1/id after the flood: %v %s", a.code, a.body)
	}
}

// waitStats waits (bounded) until ok holds for the gateway's counters.
func waitStats(t *testing.T, g *Gateway, what string, ok func(s Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := g.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// DTLS-level garbage is dropped and counted: datagrams that are not DTLS
// records (from an address without a session, and from one with a
// session), a handshake with an unknown PSK identity, and records that
// fail authentication inside a session; the session then still serves a
// request, and nothing is counted twice.
func TestGatewayDTLSAttacks(t *testing.T) {
	tg := startGW(t, testConfig(t, ""), Options{HandshakeTimeout: 2 * time.Second})
	addr := tg.g.Addr().(*net.UDPAddr)

	// Garbage from an address without a session.
	junk, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	const garbage = 5
	for i := 0; i < garbage; i++ {
		junk.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	}
	waitStats(t, tg.g, "garbage", func(s Stats) bool { return s.DTLSGarbage == garbage })

	// A ClientHello with an unknown PSK identity: the handshake fails.
	key, _ := hex.DecodeString(keyAlice)
	mc, err := piondtls.Dial("udp", addr, &piondtls.Config{
		PSK:             func([]byte) ([]byte, error) { return key, nil },
		PSKIdentityHint: []byte("mallory"),
		CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
	})
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = mc.HandshakeContext(hctx)
	cancel()
	mc.Close()
	if err == nil {
		t.Fatal("an unknown identity got a session")
	}
	waitStats(t, tg.g, "unknown identity", func(s Stats) bool { return s.HandshakeFailed == 1 && s.Peers == 0 })

	// A session whose socket the test shares: it writes garbage and forged
	// records from the session's own address.
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := piondtls.Client(&sharedPC{PacketConn: pc}, addr, &piondtls.Config{
		PSK:             func([]byte) ([]byte, error) { return key, nil },
		PSKIdentityHint: []byte("alice"),
		CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	hctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	err = dc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := rawGet(t, dc, 1, "/dev1/id"); code != codes.Content {
		t.Fatalf("GET /dev1/id: %v", code)
	}
	notRecords := [][]byte{
		[]byte("not a record at all"),
		{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 200, 1, 2, 3},     // longer than the datagram
		{99, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 1, 2},          // unknown content type
		{23, 0x03, 0x03, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 1, 2},          // TLS, not DTLS
		{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 1, 1, 0xff, 0xff}, // a record, then bytes
	}
	for _, b := range notRecords {
		if dtlsRecords(b) {
			t.Errorf("%x: taken for DTLS records", b)
		}
		pc.WriteTo(b, addr)
	}
	const forged = 4
	for i := 0; i < forged; i++ {
		// Application data in epoch 1, sequence numbers the session has
		// not seen: explicit nonce, ciphertext and CCM-8 tag of no key.
		rec := []byte{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 1, 0, byte(i), 0, 26}
		rec = append(rec, bytes.Repeat([]byte{byte(0xa0 + i)}, 26)...)
		if !dtlsRecords(rec) {
			t.Fatalf("%x: not taken for a DTLS record", rec)
		}
		pc.WriteTo(rec, addr)
	}
	// The session reads in order: once this is answered, everything
	// before it has been counted.
	if code, _ := rawGet(t, dc, 2, "/dev1/adc?ch=2"); code != codes.Content {
		t.Fatalf("after the attack: %v", code)
	}
	s := tg.g.Stats()
	if s.DTLSGarbage != garbage+uint64(len(notRecords)) || s.DTLSAuthFailed != forged || s.HandshakeFailed != 1 ||
		s.Sessions != 1 || s.CoAPMalformed != 0 || s.Errors != 0 || s.Success != 2 {
		t.Errorf("after the attack: %+v", s)
	}
	// The client ends its session: not an error either.
	dc.Close()
	s = waitStats(t, tg.g, "session closed", func(s Stats) bool { return s.Peers == 0 })
	if s.Errors != 0 {
		t.Errorf("after the session: %+v", s)
	}
}

// sharedPC is a client's UDP socket that the test also writes to.
type sharedPC struct{ net.PacketConn }
