package main

// End to end: coap-client-openssl (libcoap, DTLS PSK) → mstool gateway
// (the real binary) → ESP → the simulated reference device. Needs 'make
// firmware' and libcoap3-bin (testenv: fail in CI, skip elsewhere).

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

const (
	gwKeyAlice = "6d73746f6f6c2d616c6963652d6b6579" // "mstool-alice-key"
	gwKeyBob   = "6d73746f6f6c2d626f622d6b65792121" // "mstool-bob-key!!"
)

// coapClient runs coap-client-openssl and returns its output (payload
// and, for an error response, the code libcoap prints).
func coapClient(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, append([]string{"-B", "20"}, args...)...).CombinedOutput()
	return string(out)
}

// gatewayProc is the real `mstool --json gateway` running a configuration.
type gatewayProc struct {
	cmd    *exec.Cmd
	base   string // coaps://ADDR
	https  string // https://ADDR, when the configuration has an https line
	stderr *lockedBuffer
	lines  chan string
	done   chan error
}

func startGateway(t *testing.T, conf string) *gatewayProc {
	t.Helper()
	gw := exec.Command(mstoolBin(t), "--json", "gateway", "--config", conf, "--listen", "127.0.0.1:0", "--status-interval", "0")
	gw.Env = append(os.Environ(), "NO_COLOR=1")
	p := &gatewayProc{cmd: gw, stderr: &lockedBuffer{}, lines: make(chan string, 16), done: make(chan error, 1)}
	gw.Stderr = p.stderr
	stdout, err := gw.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() { p.done <- gw.Wait() }()
	t.Cleanup(func() {
		gw.Process.Kill()
		if t.Failed() {
			t.Logf("gateway's stderr:\n%s", p.stderr.String())
		}
	})
	var listening struct {
		Event, Addr string
		HTTPSAddr   string `json:"https_addr"`
		HTTPSCert   string `json:"https_cert"`
	}
	select {
	case l := <-p.lines:
		if err := json.Unmarshal([]byte(l), &listening); err != nil || listening.Event != "listening" {
			t.Fatalf("first line: %s", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the gateway does not listen: %s", p.stderr.String())
	}
	p.base = "coaps://" + listening.Addr
	if listening.HTTPSAddr != "" {
		if !strings.HasPrefix(listening.HTTPSCert, "sha256:") {
			t.Fatalf("https without a certificate fingerprint: %+v", listening)
		}
		p.https = "https://" + listening.HTTPSAddr
	}
	return p
}

// stop sends SIGTERM, checks the exit status and returns the last line.
func (p *gatewayProc) stop(t *testing.T) string {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("gateway exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway does not stop on SIGTERM")
	}
	var last string
	for l := range p.lines {
		last = l
	}
	return last
}

func TestGatewaySimCoAPClient(t *testing.T) {
	coap := testenv.Tool(t, "coap-client-openssl", "libcoap3-bin")
	s := provisionedSim(t, "aes128-ccm8")
	// A stable name for the port, as /dev/serial/by-id is for a board:
	// the restarted simulator gets another pty.
	s.stop(t)
	s.link = filepath.Join(s.dir, "tty-dev1")
	s.start(t)

	dir := s.dir
	for name, key := range map[string]string{"alice.psk": gwKeyAlice, "bob.psk": gwKeyBob} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "gw.conf")
	text := fmt.Sprintf(`mstool-gateway 1
device dev1 port=%s esp=%s timeout=1s retries=1
identity alice psk=alice.psk tasks=all
identity bob psk=bob.psk tasks=uptime
`, s.link, s.sa)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	gw := startGateway(t, conf)
	base := gw.base
	alice := []string{"-u", "alice", "-k", "mstool-alice-key"}
	bob := []string{"-u", "bob", "-k", "mstool-bob-key!!"}

	out := coapClient(t, coap, append(alice, base+"/dev1/id")...)
	if !strings.Contains(out, "mcu: atmega328p") {
		t.Fatalf("GET /dev1/id: %s", out)
	}
	out = coapClient(t, coap, append(alice, base+"/dev1/adc?ch=3")...)
	if !strings.Contains(out, "adc: ") {
		t.Fatalf("GET /dev1/adc?ch=3: %s", out)
	}
	out = coapClient(t, coap, append(alice, "-m", "put", "-e", "on", base+"/dev1/led")...)
	if !strings.Contains(out, "led: true") {
		t.Fatalf("PUT /dev1/led on: %s", out)
	}
	out = coapClient(t, coap, append(alice, "-A", "50", base+"/dev1/led")...)
	var r struct {
		Status string         `json:"status"`
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil || r.Status != "ok" || r.Result["led"] != true {
		t.Fatalf("GET /dev1/led as JSON: %s", out)
	}
	out = coapClient(t, coap, append(alice, base+"/.well-known/core")...)
	if !strings.Contains(out, `</dev1/adc>;rt="mstool.task"`) {
		t.Fatalf("/.well-known/core: %s", out)
	}
	// bob may read the uptime only.
	out = coapClient(t, coap, append(bob, base+"/dev1/adc?ch=3")...)
	if !strings.Contains(out, "4.03") {
		t.Fatalf("bob's GET /dev1/adc: %s", out)
	}
	out = coapClient(t, coap, append(bob, base+"/dev1/uptime")...)
	if !strings.Contains(out, "uptime_s: ") {
		t.Fatalf("bob's GET /dev1/uptime: %s", out)
	}
	// A wrong key gets no session.
	out = coapClient(t, coap, "-u", "alice", "-k", "not-alices-key!!", base+"/dev1/id")
	if strings.Contains(out, "mcu:") {
		t.Fatalf("wrong key answered: %s", out)
	}

	// The device stops: 5.04; it restarts (same EEPROM): served again
	// without restarting the gateway.
	s.stop(t)
	out = coapClient(t, coap, append(alice, base+"/dev1/id")...)
	if !strings.Contains(out, "5.04") {
		t.Fatalf("GET /dev1/id with the device stopped: %s", out)
	}
	s.start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = coapClient(t, coap, append(alice, base+"/dev1/id")...)
		if strings.Contains(out, "mcu: atmega328p") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served after the device restarted: %s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Datagrams that are not DTLS are dropped and counted.
	uc, err := net.Dial("udp", strings.TrimPrefix(base, "coaps://"))
	if err != nil {
		t.Fatal(err)
	}
	const garbage = 3
	for i := 0; i < garbage; i++ {
		uc.Write([]byte("not DTLS"))
	}
	uc.Close()
	// A CoAP request is answered after them (the gateway reads its
	// socket in order).
	if out := coapClient(t, coap, append(alice, base+"/dev1/id")...); !strings.Contains(out, "mcu: atmega328p") {
		t.Fatalf("GET /dev1/id after garbage: %s", out)
	}

	last := gw.stop(t)
	var stopped struct {
		Event string
		Stats struct {
			Requests, Success, ClientError, ServerError uint64
			HandshakeFailed                             uint64 `json:"handshake_failed"`
			DTLSGarbage                                 uint64 `json:"dtls_garbage"`
			DTLSAuthFailed                              uint64 `json:"dtls_auth_failed"`
		}
	}
	// The wrong key's handshake fails, and its Finished record fails
	// authentication (OpenSSL may retransmit it).
	if err := json.Unmarshal([]byte(last), &stopped); err != nil || stopped.Event != "stopped" ||
		stopped.Stats.Success < 7 || stopped.Stats.HandshakeFailed == 0 ||
		stopped.Stats.DTLSGarbage < garbage || stopped.Stats.DTLSAuthFailed == 0 {
		t.Fatalf("last line: %s", last)
	}
	t.Logf("%s", last)
}

// The MSSL leg: the gateway holds a grant for led and adc; the device
// enforces it too, so a task the identity may run but the grant does not
// permit is the device's 4.03.
func TestGatewaySimMSSL(t *testing.T) {
	coap := testenv.Tool(t, "coap-client-openssl", "libcoap3-bin")
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "keygen", "owner", "-o", p("owner.pem"), "--bits", "1024")
	mustRun(t, "keygen", "device", "-o", p("dev.key"), "--id", "0x2a")
	mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--device", p("dev.key"), "--host-ip", simHost,
		"--tasks", "led,adc", "--serial", "5", "--valid-for", "720h", "-o", p("gw"))
	mustRun(t, "--quiet", "provision", "-d", p("dev.key"), "--ip", simDevA, "--issuer", p("owner.pem"), "-o", p("dev.hex"))
	eep, _, err := sim.PrepareEEPROM(p("dev.hex"), "atmega328p")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, EEPROM: eep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Stop() })
	if err := os.WriteFile(p("alice.psk"), []byte(gwKeyAlice+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := p("gw.conf")
	text := fmt.Sprintf("device m1 port=%s mssl=%s device-ip=%s timeout=5s\nidentity alice psk=alice.psk tasks=all\n", dev.Port, p("gw.grant"), simDevA)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, conf)
	alice := []string{"-u", "alice", "-k", "mstool-alice-key"}
	out := coapClient(t, coap, append(alice, gw.base+"/m1/adc?ch=3")...)
	if !strings.Contains(out, "adc: ") {
		t.Fatalf("GET /m1/adc?ch=3 through MSSL: %s", out)
	}
	out = coapClient(t, coap, append(alice, "-m", "put", "-e", "toggle", gw.base+"/m1/led")...)
	if !strings.Contains(out, "led: ") {
		t.Fatalf("PUT /m1/led toggle through MSSL: %s", out)
	}
	out = coapClient(t, coap, append(alice, gw.base+"/m1/id")...)
	if !strings.Contains(out, "4.03") {
		t.Fatalf("GET /m1/id, outside the grant: %s", out)
	}
	if last := gw.stop(t); !strings.Contains(last, `"leg":"mssl"`) || !strings.Contains(last, `"served":3`) {
		t.Fatalf("last line: %s", last)
	}
}

// HTTPS end to end: curl and headless Chromium → mstool gateway (HTTPS,
// TLS 1.3, a certificate it makes) → ESP → the simulated device. The
// page Chromium renders shows the result read from the device; its DOM
// and a screenshot are kept ($MSTOOL_TEST_ARTIFACTS, else a temporary
// directory; the test logs where).
func TestGatewaySimHTTPS(t *testing.T) {
	curl := testenv.Tool(t, "curl", "curl")
	chromium := testenv.Tool(t, "chromium", "chromium")
	s := provisionedSim(t, "aes128-ccm8")
	const token = "mstool-carol-token-0123456789abcdef"
	h := sha256.Sum256([]byte(token))
	conf := filepath.Join(s.dir, "gw.conf")
	text := fmt.Sprintf(`mstool-gateway 1
https 127.0.0.1:0 query-token=on
device dev1 port=%s esp=%s timeout=1s retries=1
identity carol token=sha256:%x tasks=id,adc
`, s.port(), s.sa, h)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, conf)
	if gw.https == "" {
		t.Fatal("no https_addr in the listening line")
	}
	cert := filepath.Join(s.dir, "gateway-https.crt")
	curlGet := func(path string, extra ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := append([]string{"-sS", "--tlsv1.3", "--cacert", cert, "-w", "\n%{http_code}"}, extra...)
		out, err := exec.CommandContext(ctx, curl, append(args, gw.https+path)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v: %s", path, err, out)
		}
		o := strings.TrimSpace(string(out))
		i := strings.LastIndexByte(o, '\n')
		return strings.TrimSpace(o[:i+1]), o[i+1:]
	}
	bearer := []string{"-H", "Authorization: Bearer " + token}
	body, code := curlGet("/dev1/adc?ch=3", bearer...)
	var r struct {
		Type, Task, Status, Transport string
		Result                        map[string]any
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != "200" || r.Type != "task" || r.Status != "ok" || r.Transport != "esp" || r.Result["adc"] == nil {
		t.Fatalf("curl GET /dev1/adc?ch=3: %s %s", code, body)
	}
	adc := fmt.Sprintf("adc: %v", r.Result["adc"])
	if _, code := curlGet("/dev1/adc?ch=3"); code != "401" {
		t.Errorf("without a token: %s", code)
	}
	if _, code := curlGet("/dev1/led", bearer...); code != "403" {
		t.Errorf("led, not carol's: %s", code)
	}

	out := t.TempDir()
	if d := os.Getenv("MSTOOL_TEST_ARTIFACTS"); d != "" {
		out = filepath.Join(d, t.Name())
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	page := gw.https + "/dev1/?access_token=" + token
	chrome := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
			"--ignore-certificate-errors", "--user-data-dir=" + t.TempDir(), "--window-size=900,500"}, args...)...)
		o, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return string(o)
	}
	dom := chrome("--dump-dom", page)
	os.WriteFile(filepath.Join(out, "dev1.html"), []byte(dom), 0o644)
	if !strings.Contains(dom, adc) || !strings.Contains(dom, "Device dev1") {
		t.Fatalf("the page lacks %q:\n%s", adc, dom)
	}
	shot := filepath.Join(out, "dev1.png")
	chrome("--screenshot="+shot, page)
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("artefacts: %s (dev1.html, dev1.png)", out)

	// The device stops: 504.
	s.stop(t)
	if _, code := curlGet("/dev1/id", bearer...); code != "504" {
		t.Errorf("device stopped: %s", code)
	}
	gw.stop(t)
}
