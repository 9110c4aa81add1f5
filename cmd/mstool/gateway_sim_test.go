package main

// End to end: coap-client-openssl (libcoap, DTLS PSK) → mstool gateway
// (the real binary) → ESP → the simulated reference device. Needs 'make
// firmware' and libcoap3-bin (testenv: fail in CI, skip elsewhere).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
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

	gw := exec.Command(mstoolBin(t), "--json", "gateway", "--config", conf, "--listen", "127.0.0.1:0", "--status-interval", "0")
	gw.Env = append(os.Environ(), "NO_COLOR=1")
	var stderr lockedBuffer
	gw.Stderr = &stderr
	stdout, err := gw.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { done <- gw.Wait() }()
	defer func() {
		gw.Process.Kill()
		if t.Failed() {
			t.Logf("gateway's stderr:\n%s", stderr.String())
		}
	}()
	var listening struct {
		Event, Addr string
	}
	select {
	case l := <-lines:
		if err := json.Unmarshal([]byte(l), &listening); err != nil || listening.Event != "listening" {
			t.Fatalf("first line: %s", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the gateway does not listen: %s", stderr.String())
	}
	base := "coaps://" + listening.Addr
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

	gw.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gateway exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway does not stop on SIGTERM")
	}
	var last string
	for l := range lines {
		last = l
	}
	var stopped struct {
		Event string
		Stats struct {
			Requests, Success, ClientError, ServerError uint64
			HandshakeFailed                             uint64 `json:"handshake_failed"`
		}
	}
	if err := json.Unmarshal([]byte(last), &stopped); err != nil || stopped.Event != "stopped" ||
		stopped.Stats.Success < 6 || stopped.Stats.HandshakeFailed == 0 {
		t.Fatalf("last line: %s", last)
	}
	t.Logf("%s", last)
}
