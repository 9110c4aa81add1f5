package main

// `mstool mssl exec` and `mstool decrypt --mssl-keylog` against the
// simulated device running the default ATmega328P firmware image, which
// has MSSL (firmware/build/atmega328p/mstool.elf: `make -C firmware`),
// provisioned by `mstool provision --issuer`. The protocol's
// attack tests against the device are in pkg/mssl (device_sim_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/grant"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/mssl"
	"github.com/mstool/mstool/pkg/sim"
	"github.com/mstool/mstool/pkg/tasks"
)

func TestMSSLExecOnDevice(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "keygen", "owner", "-o", p("owner.pem"), "--bits", "1024")
	mustRun(t, "keygen", "device", "-o", p("dev.key"), "--id", "0x2a")
	mustRun(t, "keygen", "device", "-o", p("other.key"), "--id", "0x2b")
	mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--device", p("dev.key"), "--host-ip", simHost,
		"--tasks", "led,adc", "--serial", "5", "--valid-for", "720h", "-o", p("alice"))
	mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--device", p("other.key"), "--host-ip", simHost,
		"--tasks", "led", "--serial", "5", "--valid-for", "720h", "-o", p("foreign"))
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
	base := []string{"mssl", "exec", "--port", dev.Port, "--device-ip", simDevA, "--timeout", "5s", "--keylog", p("keys.log")}
	exec := func(grantFile string, args ...string) (string, string, int) {
		return mstoolRun(t, append(append(append([]string(nil), base...), "--grant", p(grantFile)), args...)...)
	}

	// Allowed: exit 0 (the first verifies the RSA signature, the second is cached).
	out, errs, code := exec("alice.grant", "led", "on")
	if code != 0 || !strings.Contains(out, "true") {
		t.Fatalf("led on: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = mstoolRun(t, append([]string{"--json"}, append(append(base, "--grant", p("alice.grant")), "adc", "3")...)...)
	var res struct {
		Status  string `json:"status"`
		Allowed bool   `json:"allowed"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Status != "ok" || !res.Allowed {
		t.Fatalf("adc 3: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "cached") {
		t.Errorf("second session not resumed from the device's cache:\n%s", errs)
	}
	// Outside the grant: denied, exit 4; a grant for another device: exit 4.
	if _, errs, code = exec("alice.grant", "id"); code != 4 || !strings.Contains(errs, "denied") {
		t.Fatalf("id: exit %d\n%s", code, errs)
	}
	if _, errs, code = exec("foreign.grant", "led", "on"); code != 4 || !strings.Contains(errs, "wrong_device") {
		t.Fatalf("foreign grant: exit %d\n%s", code, errs)
	}

	// The CLI records its own session (--pcap) and logs its keys; decrypt
	// opens every MSSL record of it.
	cliBase := []string{"mssl", "exec", "--port", dev.Port, "--device-ip", simDevA, "--timeout", "5s",
		"--keylog", p("cli.keys"), "--pcap", p("cli.pcap"), "--grant", p("alice.grant")}
	if out, errs, code = mstoolRun(t, append(cliBase, "led", "off")...); code != 0 {
		t.Fatalf("mssl exec --pcap: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code = mstoolRun(t, append(cliBase, "led", "off")...); code != exitFailure || !strings.Contains(errs, "already exists") {
		t.Fatalf("mssl exec --pcap over an existing file: exit %d\n%s", code, errs)
	}
	out = mustRun(t, "--json", "decrypt", p("cli.pcap"), "-o", p("cli.clear.pcap"), "--mssl-keylog", p("cli.keys"))
	var cliSt struct {
		Decrypted uint64 `json:"mssl_decrypted"`
		Failed    uint64 `json:"mssl_failed"`
	}
	if err := json.Unmarshal([]byte(out), &cliSt); err != nil || cliSt.Decrypted < 4 || cliSt.Failed != 0 {
		t.Fatalf("decrypt of the CLI's capture: %v\n%s", err, out)
	}

	// A captured session decrypts with the key log (mstool decrypt), byte
	// for byte as the library sent it.
	var pcap bytes.Buffer
	rec, err := link.NewRecorder(&pcap)
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.OpenSerial(dev.Port, &link.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.ReadFile(p("alice.grant"))
	if err != nil {
		t.Fatal(err)
	}
	hkText, err := os.ReadFile(p("alice.hostkey"))
	if err != nil {
		t.Fatal(err)
	}
	hk, err := grant.ParseHostKey(hkText)
	if err != nil {
		t.Fatal(err)
	}
	var keylog bytes.Buffer
	host := netip.AddrPortFrom(netip.MustParseAddr(simHost), 40123)
	tr := mssl.NewLink(l, host, netip.AddrPortFrom(netip.MustParseAddr(simDevA), mssl.Port))
	sess, err := mssl.Dial(context.Background(), mssl.Config{Grant: g, HostKey: hk, Transport: tr, KeyLog: &keylog, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sess.Task(context.Background(), tasks.TaskADC, []byte{6})
	if err != nil || r.Status != tasks.StatusOK {
		t.Fatalf("adc: %v %+v", err, r)
	}
	sess.Close(context.Background())
	l.Close()
	if err := os.WriteFile(p("session.pcap"), pcap.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("session.keys"), keylog.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "--json", "decrypt", p("session.pcap"), "-o", p("clear.pcap"), "--mssl-keylog", p("session.keys"))
	var st struct {
		Decrypted uint64 `json:"mssl_decrypted"`
		Failed    uint64 `json:"mssl_failed"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Decrypted != 4 || st.Failed != 0 {
		t.Fatalf("decrypt: %v\n%s", err, out)
	}
	clear, err := os.ReadFile(p("clear.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// The request (01 04 id 06) and the reply's header are in clear now.
	if !bytes.Contains(clear, tasks.AppendRequest(nil, tasks.TaskADC, 1, []byte{6})) ||
		!bytes.Contains(clear, tasks.AppendReply(nil, tasks.TaskADC, 1, tasks.StatusOK, r.Result)) {
		t.Fatal("the decrypted capture does not hold the task request and reply in clear")
	}
}

// When the MSSL handshake gets no answer over a serial link, mstool asks
// the device over its management channel why (IDENTIFY, STATUS) and says
// so, exit 3: a wrong --device-ip (the error names the device's address),
// no issuer key, an unprovisioned device, firmware without MSSL.
func TestMSSLSimNoAnswerDiagnosis(t *testing.T) {
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "keygen", "owner", "-o", p("owner.pem"), "--bits", "1024")
	mustRun(t, "keygen", "device", "-o", p("dev.key"), "--id", "0x2a")
	mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--device", p("dev.key"), "--host-ip", simHost,
		"--tasks", "led", "--serial", "5", "--valid-for", "720h", "-o", p("alice"))
	mustRun(t, "--quiet", "provision", "-d", p("dev.key"), "--ip", simDevA, "--issuer", p("owner.pem"), "-o", p("dev.hex"))
	mustRun(t, "--quiet", "provision", "-d", p("dev.key"), "--ip", simDevA, "-o", p("noissuer.hex"))
	start := func(t *testing.T, mcu, firmware, hex string) string {
		eep := p(mcu + "-none.eep") // absent: erased
		if hex != "" {
			var err error
			if eep, _, err = sim.PrepareEEPROM(hex, mcu); err != nil {
				t.Fatal(err)
			}
		}
		dev, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: firmware, MCU: mcu, EEPROM: eep})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Stop() })
		return dev.Port
	}
	exec := func(port, ip string) (string, int) {
		args := []string{"mssl", "exec", "--port", port, "--grant", p("alice.grant"), "--timeout", "500ms", "--retries", "0", "led", "on"}
		if ip != "" {
			args = append(args, "--device-ip", ip)
		}
		_, errs, code := mstoolRun(t, args...)
		return errs, code
	}
	expect := func(t *testing.T, errs string, code int, want ...string) {
		t.Helper()
		if code != exitLink {
			t.Errorf("exit %d, want %d\n%s", code, exitLink, errs)
		}
		for _, w := range want {
			if !strings.Contains(errs, w) {
				t.Errorf("stderr lacks %q:\n%s", w, errs)
			}
		}
	}

	t.Run("wrong-address", func(t *testing.T) {
		port := start(t, "atmega328p", elf, p("dev.hex"))
		errs, code := exec(port, "10.0.0.9")
		expect(t, errs, code, "the device's address is "+simDevA+", not 10.0.0.9", "hint: ", "--device-ip "+simDevA)
		// The right address works on the same device.
		if errs, code := exec(port, simDevA); code != 0 {
			t.Fatalf("right address: exit %d\n%s", code, errs)
		}
		// And without --device-ip: the address the device reports.
		if errs, code := exec(port, ""); code != 0 {
			t.Fatalf("no --device-ip: exit %d\n%s", code, errs)
		}
	})
	t.Run("no-issuer", func(t *testing.T) {
		port := start(t, "atmega328p", elf, p("noissuer.hex"))
		errs, code := exec(port, simDevA)
		expect(t, errs, code, "no grant issuer key", "--issuer")
	})
	t.Run("unprovisioned", func(t *testing.T) {
		port := start(t, "atmega328p", elf, "")
		errs, code := exec(port, simDevA)
		expect(t, errs, code, "unprovisioned (blank EEPROM)", "mstool provision")
		errs, code = exec(port, "")
		expect(t, errs, code, "reports no IPv4 address: it is not provisioned", "mstool provision")
	})
	t.Run("no-mssl", func(t *testing.T) {
		elf168 := testenv.Artifact(t, "firmware/build/atmega168/mstool.elf", "firmware")
		port := start(t, "atmega168", elf168, "")
		errs, code := exec(port, simDevA)
		expect(t, errs, code, "MSSL is not built", "atmega328p")
	})
}
