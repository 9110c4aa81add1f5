package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	coapudp "github.com/plgd-dev/go-coap/v3/udp"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/tasks"
)

const (
	tokenCarol = "carol-token-0123456789abcdef0123456789abcdef"
	tokenDave  = "dave-token-0123456789abcdef0123456789abcdef"
)

func tokenLine(name, token, rest string) string {
	h := sha256.Sum256([]byte(token))
	return fmt.Sprintf("identity %s token=sha256:%s %s\n", name, hex.EncodeToString(h[:]), rest)
}

// httpsConfig adds an HTTPS listener (the gateway makes its certificate)
// and token identities carol (id, adc on dev1) and dave (everything).
func httpsConfig(t *testing.T, extra string) *Config {
	return testConfig(t, "https 127.0.0.1:0 query-token=on\n"+
		tokenLine("carol", tokenCarol, "tasks=id,adc devices=dev1")+
		tokenLine("dave", tokenDave, "tasks=all")+extra)
}

// httpsClient trusts the gateway's certificate and nothing else.
func httpsClient(t *testing.T, cfg *Config, certs ...tls.Certificate) *http.Client {
	t.Helper()
	pemData, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		t.Fatal("the gateway's certificate does not parse")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type httpAnswer struct {
	code int
	body string
	h    http.Header
}

func httpDo(t *testing.T, c *http.Client, method, url, token, body, ctype string) httpAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, string(b), resp.Header}
}

func TestHTTPSResponses(t *testing.T) {
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	c := httpsClient(t, cfg)
	base := "https://" + tg.g.HTTPSAddr().String()
	for _, tc := range []struct {
		name, method, path, token, body, ctype string
		code                                   int
		want                                   string // substring
	}{
		{"adc", "GET", "/dev1/adc?ch=3", tokenCarol, "", "", 200, `"result":{"adc":515}`},
		{"no credential", "GET", "/dev1/adc?ch=3", "", "", "", 401, "no valid credential"},
		{"wrong token", "GET", "/dev1/adc?ch=3", tokenCarol + "x", "", "", 401, "no valid credential"},
		{"query token", "GET", "/dev1/id?access_token=" + tokenCarol, "", "", "", 200, `"mcu":"atmega328p"`},
		{"not permitted", "GET", "/dev1/led", tokenCarol, "", "", 403, "may not run led"},
		{"not permitted device", "GET", "/dev2/id", tokenCarol, "", "", 403, "may not run id"},
		{"unknown device", "GET", "/nodev/id", tokenCarol, "", "", 404, "no device"},
		{"unknown task", "GET", "/dev1/nope", tokenCarol, "", "", 404, "no task"},
		{"not a path", "GET", "/dev1/adc/x", tokenCarol, "", "", 404, "/DEVICE/TASK"},
		{"bad argument", "GET", "/dev1/adc?ch=9", tokenCarol, "", "", 400, "channel"},
		{"write by GET", "GET", "/dev1/led?op=on", tokenDave, "", "", 405, "use PUT"},
		{"write by PUT", "PUT", "/dev1/led", tokenDave, "on", "text/plain", 200, `"led":true`},
		{"JSON arguments", "PUT", "/dev1/settings-write", tokenDave, `{"index":1,"value":4660}`, "application/json", 200, `"value":4660`},
		{"other format", "PUT", "/dev1/settings-write", tokenDave, `x`, "image/png", 415, "payloads are"},
		{"POST", "POST", "/dev1/id", tokenDave, "", "", 405, "GET or PUT"},
		{"POST: 404 first", "POST", "/nodev/id", tokenDave, "", "", 404, "no device"},
		{"POST: 403 first", "POST", "/dev1/led", tokenCarol, "", "", 403, "may not run led"},
		{"device refuses", "GET", "/dev1/uptime", tokenDave, "", "", 403, "grant does not permit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := httpDo(t, c, tc.method, base+tc.path, tc.token, tc.body, tc.ctype)
			if a.code != tc.code || !strings.Contains(a.body, tc.want) {
				t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, a.code, a.body, tc.code, tc.want)
			}
			if a.code == 401 && a.h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.method == "POST" && a.code == 405 && a.h.Get("Allow") != "GET, PUT" {
				t.Errorf("405 with Allow %q", a.h.Get("Allow"))
			}
			for k, v := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Content-Type": "application/json"} {
				if a.h.Get(k) != v {
					t.Errorf("%s: %q, want %q", k, a.h.Get(k), v)
				}
			}
			if !strings.HasPrefix(a.h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("CSP %q", a.h.Get("Content-Security-Policy"))
			}
		})
	}
	// The task result schema of esp exec --json (docs/json.md).
	a := httpDo(t, c, "GET", base+"/dev1/adc?ch=3", tokenCarol, "", "")
	var r struct {
		Type string `json:"type"`
		tasks.Result
	}
	if err := json.Unmarshal([]byte(a.body), &r); err != nil || r.Type != "task" || r.Task != "adc" || r.Status != "ok" || r.Transport != "esp" || r.Raw != "0203" || r.Attempts != 1 {
		t.Errorf("result %s (%v)", a.body, err)
	}

	// Queue full: 503 with Retry-After; device silent: 504.
	d := tg.devs["dev2"]
	gate, started := make(chan struct{}), make(chan struct{}, 8)
	d.set(func(d *fakeDevice) { d.gate, d.started = gate, started })
	done := make(chan *Response, 3)
	req := func() {
		done <- tg.g.Do(context.Background(), &Request{Identity: "dave", Device: "dev2", Task: "id", Format: FormatNone})
	}
	go req()
	<-started
	go req()
	go req()
	deadline := time.Now().Add(5 * time.Second)
	for tg.g.Stats().Devices[1].Queued != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the requests do not queue")
		}
		time.Sleep(time.Millisecond)
	}
	if a := httpDo(t, c, "GET", base+"/dev2/id", tokenDave, "", ""); a.code != 503 || a.h.Get("Retry-After") == "" {
		t.Errorf("full queue: %d %q %v", a.code, a.body, a.h)
	}
	close(gate)
	for range 3 {
		<-done
	}
	d.set(func(d *fakeDevice) { d.gate, d.started, d.silent = nil, nil, true })
	if a := httpDo(t, c, "GET", base+"/dev2/id", tokenDave, "", ""); a.code != 504 {
		t.Errorf("silent device: %d %q", a.code, a.body)
	}
}

// requestLog collects the gateway's request log lines (Options.RequestLog).
type requestLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *requestLog) log(msg string) { l.mu.Lock(); l.lines = append(l.lines, msg); l.mu.Unlock() }

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// With query-token=on, identify takes the token from the query after
// percent-decoding each parameter; the request log hides it whatever
// spelling of access_token carried it, not only the literal one.
func TestHTTPSQueryTokenRedactedWhateverItsEncoding(t *testing.T) {
	cfg := httpsConfig(t, "")
	var rl requestLog
	tg := startGW(t, cfg, Options{RequestLog: rl.log})
	c := httpsClient(t, cfg)
	base := "https://" + tg.g.HTTPSAddr().String()
	for _, q := range []string{"id?access_token=", "id?access%5Ftoken=", "id?%61ccess_token=", "id?access_token%3D", "adc?ch=3&access%5ftoken="} {
		a := httpDo(t, c, "GET", base+"/dev1/"+q+tokenCarol, "", "", "")
		if a.code != 200 {
			t.Fatalf("/dev1/%s...: %d %s", q, a.code, a.body)
		}
	}
	lines := rl.all()
	if len(lines) != 5 {
		t.Errorf("%d request log lines, want 5: %q", len(lines), lines)
	}
	for _, l := range lines {
		if strings.Contains(l, tokenCarol) || !strings.Contains(l, "access_token=REDACTED") {
			t.Errorf("the request log shows the bearer token: %q", l)
		}
	}
}

// A client cannot write lines of its own into the request log (-v): a
// path with a newline or a terminal escape sequence, from an
// unauthenticated HTTPS client (401) or a plain CoAP client, is logged
// quoted, one line, without control characters.
func TestRequestLogNotForgeable(t *testing.T) {
	cfg := httpsConfig(t, "plain 127.0.0.1:0 identity=bob\n")
	var rl requestLog
	tg := startGW(t, cfg, Options{RequestLog: rl.log})
	c := httpsClient(t, cfg)
	a := httpDo(t, c, "GET", "https://"+tg.g.HTTPSAddr().String()+"/x%0Aalice%20PUT%20/dev1/led%20(https):%20200%20OK%1B[2J", "", "", "")
	if a.code != 401 {
		t.Fatalf("setup: %d", a.code)
	}
	cc, err := coapudp.Dial(tg.g.PlainAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if a := request(t, cc, codes.GET, "/x\nalice GET /dev1/id: 2.05 Content (0 ms)\x1b[2J/y?q\r\n", ""); a.code != codes.NotFound {
		t.Fatalf("setup: %v %s", a.code, a.body)
	}
	lines := rl.all()
	if len(lines) != 2 {
		t.Errorf("%d request log lines, want 2: %q", len(lines), lines)
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\n\r\x1b") || !strings.Contains(l, `"/x\nalice `) {
			t.Errorf("a client put control characters into the request log: %q", l)
		}
	}
}

func TestHTTPSPage(t *testing.T) {
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	c := httpsClient(t, cfg)
	base := "https://" + tg.g.HTTPSAddr().String()
	if a := httpDo(t, c, "GET", base+"/dev1/adc?ch=5", tokenDave, "", ""); a.code != 200 {
		t.Fatalf("adc: %d %s", a.code, a.body)
	}
	a := httpDo(t, c, "GET", base+"/dev1/", tokenCarol, "", "")
	if a.code != 200 || a.h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %v %s", a.code, a.h, a.body)
	}
	for _, want := range []string{"<code>/dev1/adc</code>", "<code>adc: 517</code>", "<code>/dev1/id</code>", "none yet", "<code>carol</code>"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %s:\n%s", want, a.body)
		}
	}
	if strings.Contains(a.body, "/dev1/led") || strings.Contains(strings.ToLower(a.body), "<script") {
		t.Errorf("the page lists a task carol may not run, or has a script:\n%s", a.body)
	}
	csp := a.h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'sha256-") || !strings.Contains(a.body, "<style>"+pageCSS+"</style>") {
		t.Errorf("CSP %q does not allow exactly the page's style", csp)
	}
	if a := httpDo(t, c, "GET", base+"/dev2/", tokenCarol, "", ""); a.code != 403 {
		t.Errorf("carol's dev2 page: %d", a.code)
	}
	if a := httpDo(t, c, "GET", base+"/nodev/", tokenCarol, "", ""); a.code != 404 {
		t.Errorf("no such device's page: %d", a.code)
	}
	if a := httpDo(t, c, "GET", base+"/dev1/", "", "", ""); a.code != 401 {
		t.Errorf("page without a token: %d", a.code)
	}
}

func TestHTTPSTokenComparedInConstantTime(t *testing.T) {
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	c := httpsClient(t, cfg)
	n := 0
	tokenEqual = func(x, y []byte) int {
		n++
		if len(x) != sha256.Size || len(y) != sha256.Size {
			t.Errorf("compared %d and %d bytes, not two SHA-256 hashes", len(x), len(y))
		}
		return subtleCompare(x, y)
	}
	defer func() { tokenEqual = subtleCompare }()
	for _, tok := range []string{tokenCarol, "wrong"} {
		n = 0
		httpDo(t, c, "GET", "https://"+tg.g.HTTPSAddr().String()+"/dev1/id", tok, "", "")
		if n != 2 { // carol and dave: every token identity, whichever matches
			t.Errorf("token %q: %d constant-time compares, want 2", tok, n)
		}
	}
}

var subtleCompare = tokenEqual

func TestHTTPSOnlyTLS13(t *testing.T) {
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", tg.g.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("a client of at most TLS version %#x got a session", v)
		}
	}
	conn, err := tls.Dial("tcp", tg.g.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if conn.ConnectionState().Version != tls.VersionTLS13 {
		t.Errorf("version %#x", conn.ConnectionState().Version)
	}
	conn.Close()
}

// clientCert makes a self-signed client certificate.
func clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "erin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHTTPSClientCertificate(t *testing.T) {
	erin, mallory := clientCert(t), clientCert(t)
	cfg := httpsConfig(t, fmt.Sprintf("identity erin client-cert=%s tasks=id devices=dev1\n", Fingerprint(erin.Certificate[0])))
	tg := startGW(t, cfg, Options{})
	base := "https://" + tg.g.HTTPSAddr().String()
	if a := httpDo(t, httpsClient(t, cfg, erin), "GET", base+"/dev1/id", "", "", ""); a.code != 200 {
		t.Errorf("erin's certificate: %d %s", a.code, a.body)
	}
	if a := httpDo(t, httpsClient(t, cfg, erin), "GET", base+"/dev1/adc?ch=1", "", "", ""); a.code != 403 {
		t.Errorf("erin's certificate, adc: %d %s", a.code, a.body)
	}
	if a := httpDo(t, httpsClient(t, cfg, mallory), "GET", base+"/dev1/id", "", "", ""); a.code != 401 {
		t.Errorf("an unknown certificate: %d %s", a.code, a.body)
	}
	// erin has no PSK: no DTLS session as erin.
	if cc, err := dialSuite(tg.g.Addr(), "erin", keyAlice, piondtls.TLS_PSK_WITH_AES_128_CCM_8); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = cc.Get(ctx, "/dev1/id")
		cancel()
		cc.Close()
		if err == nil {
			t.Error("a DTLS session for an identity without a PSK")
		}
	}
}

func TestHTTPSCertificateMadeOnce(t *testing.T) {
	cfg := httpsConfig(t, "")
	g, err := New(cfg, Options{Dial: func(*DeviceConfig) Dialer { return newFakeDevice().dial }})
	if err != nil {
		t.Fatal(err)
	}
	if !g.certMade {
		t.Error("the certificate was not made")
	}
	for _, f := range []string{cfg.KeyFile, cfg.CertFile} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if f == cfg.KeyFile && st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", f, st.Mode())
		}
	}
	leaf := g.cert.Leaf
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || leaf.VerifyHostname("127.0.0.1") != nil || leaf.VerifyHostname("localhost") != nil {
		t.Errorf("certificate: %T %v %v", leaf.PublicKey, leaf.DNSNames, leaf.IPAddresses)
	}
	g2, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g2.certMade || string(g2.cert.Leaf.Raw) != string(leaf.Raw) {
		t.Error("a second start made another certificate")
	}
	// A key others may read is refused.
	os.Chmod(cfg.KeyFile, 0o644)
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("a key file others may read was used")
	}
	// One of the two files alone is an error, not a new pair.
	os.Remove(cfg.KeyFile)
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("a certificate without its key was replaced")
	}
}

func TestHTTPSConfig(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"https 127.0.0.1:0 cert=x.crt", "both cert=FILE and key=FILE"},
		{"https 127.0.0.1:0 query-token=yes", "want on or off"},
		{"https 127.0.0.1:0 cert=x.crt key=x.key hosts=a", "hosts="},
		{"identity x token=abc tasks=id", "sha256:HEX"},
		{"identity x token=sha256:00 tasks=id", "64 hex digits"},
		{"identity x tasks=id", "at least one of"},
		{tokenLine("x", tokenCarol, "tasks=id") + tokenLine("y", tokenCarol, "tasks=id"), "the same token"},
	} {
		_, err := ParseConfig(strings.NewReader("device d port=/dev/null esp=x.sa\n"+tc.line), "t.conf", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.line, err, tc.want)
		}
	}
}

// artefactDir is where the browser tests leave their output: the
// directory $MSTOOL_TEST_ARTIFACTS names (CI keeps it), else a temporary
// one.
func artefactDir(t *testing.T) string {
	if d := os.Getenv("MSTOOL_TEST_ARTIFACTS"); d != "" {
		d = filepath.Join(d, t.Name())
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func TestHTTPSCurl(t *testing.T) {
	curl := testenv.Tool(t, "curl", "curl")
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	url := "https://" + tg.g.HTTPSAddr().String() + "/dev1/adc?ch=3"
	out, err := exec.Command(curl, "-sS", "--tlsv1.3", "--cacert", cfg.CertFile, "-H", "Authorization: Bearer "+tokenCarol, url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"result":{"adc":515}`) {
		t.Fatalf("curl: %v: %s", err, out)
	}
	out, _ = exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cfg.CertFile, url).CombinedOutput()
	if string(out) != "401" {
		t.Errorf("curl without a token: %s", out)
	}
	out, err = exec.Command(curl, "-sS", "--cacert", cfg.CertFile, "--tls-max", "1.2", url).CombinedOutput()
	if err == nil {
		t.Errorf("curl with TLS 1.2 at most got an answer: %s", out)
	}
}

func TestHTTPSChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "chromium")
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	c := httpsClient(t, cfg)
	base := "https://" + tg.g.HTTPSAddr().String()
	if a := httpDo(t, c, "GET", base+"/dev1/adc?ch=4", tokenCarol, "", ""); a.code != 200 {
		t.Fatalf("adc: %d %s", a.code, a.body)
	}
	out := artefactDir(t)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
			"--ignore-certificate-errors", "--user-data-dir=" + t.TempDir(), "--window-size=900,500"}, args...)...)
		var stdout strings.Builder
		cmd.Stdout = &stdout
		cmd.Stderr = io.Discard
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return stdout.String()
	}
	// The page takes the token in the URL (query-token=on): headless
	// Chromium cannot send an Authorization header.
	page := base + "/dev1/?access_token=" + tokenCarol
	dom := run("--dump-dom", page)
	if err := os.WriteFile(filepath.Join(out, "dev1.html"), []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, "adc: 516") || !strings.Contains(dom, "Device dev1") {
		t.Fatalf("chromium's DOM lacks the result:\n%s", dom)
	}
	shot := filepath.Join(out, "dev1.png")
	run("--screenshot="+shot, page)
	if b, err := os.ReadFile(shot); err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, len(b))
	}
	t.Logf("artefacts: %s (dev1.html, dev1.png)", out)
	if d := run("--dump-dom", base+"/dev1/"); !strings.Contains(d, "no valid credential") {
		t.Errorf("chromium without a token:\n%s", d)
	}
}

// Failed TLS handshakes on the HTTPS port are counted: a connection
// closed at once, plain HTTP, a TLS 1.2 client, and a TLS 1.3 client
// that aborts the handshake (it rejects the certificate); a client that
// completes its handshake is not counted, and is served afterwards.
func TestHTTPSHandshakeFailures(t *testing.T) {
	cfg := httpsConfig(t, "")
	tg := startGW(t, cfg, Options{})
	addr := tg.g.HTTPSAddr().String()
	c := httpsClient(t, cfg)
	ok := func() {
		t.Helper()
		if a := httpDo(t, c, "GET", "https://"+addr+"/dev1/id", tokenCarol, "", ""); a.code != 200 {
			t.Fatalf("GET /dev1/id: %d %s", a.code, a.body)
		}
		c.Transport.(*http.Transport).CloseIdleConnections()
	}
	ok()
	attacks := []struct {
		name string
		do   func() error
	}{
		{"closed at once", func() error {
			conn, err := net.Dial("tcp", addr)
			if err == nil {
				conn.Close()
			}
			return err
		}},
		{"plain HTTP", func() error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.Write([]byte("GET /dev1/id HTTP/1.1\r\nHost: x\r\n\r\n"))
			io.Copy(io.Discard, conn) // until the gateway closes it
			return nil
		}},
		{"TLS 1.2", func() error {
			conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
			if err == nil {
				conn.Close()
				return errors.New("a TLS 1.2 client got a session")
			}
			return nil
		}},
		{"aborted", func() error {
			errAbort := errors.New("the test aborts")
			conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true,
				VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { return errAbort }})
			if err == nil {
				conn.Close()
				return errors.New("the handshake completed")
			}
			if !errors.Is(err, errAbort) {
				return err
			}
			return nil
		}},
	}
	for i, a := range attacks {
		if err := a.do(); err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		waitStats(t, tg.g, a.name, func(s Stats) bool { return s.HTTPSHandshakeFailed == uint64(i+1) })
	}
	ok()
	if s := tg.g.Stats(); s.HTTPSHandshakeFailed != uint64(len(attacks)) {
		t.Errorf("after %d failed handshakes: %+v", len(attacks), s)
	}
}
