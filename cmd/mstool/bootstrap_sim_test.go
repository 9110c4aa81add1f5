package main

// Bootstrapping end to end on the simulated ATmega328P running the
// esp-mssl-boot image (CONFIG_BOOTSTRAP; 'make' builds it as
// firmware/build/profile/esp-mssl-boot/atmega328p/, testenv: fail in CI,
// skip elsewhere): enrol → provision --bootstrap → label PNG → serve →
// join --port → ESP and MSSL with keys derived from the new PSK, taken
// from the repository (docs/bootstrap.md, "After the join"); then a second
// join: the new PSK works, the old one stops.

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/bootstrap"
	"github.com/mstool/mstool/pkg/sim"
)

func TestBootstrapSim(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/profile/esp-mssl-boot/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	repo := p("devices.repo")

	mustRun(t, "bootstrap", "controller", "--id", "1", "-o", p("ctl.key"))
	out := mustRun(t, "--json", "bootstrap", "enrol", "--repo", repo, "--id", "0x2a", "-o", p("labels"))
	var enr struct {
		Devices []struct {
			PNG        string `json:"png"`
			DeviceFile string `json:"device_file"`
			RNPrint    string `json:"rn_fingerprint"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &enr); err != nil || len(enr.Devices) != 1 {
		t.Fatalf("enrol: %v\n%s", err, out)
	}
	devFile, png := enr.Devices[0].DeviceFile, enr.Devices[0].PNG
	data, err := os.ReadFile(devFile)
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := bootstrap.ParseEnrolled(data)
	if err != nil {
		t.Fatal(err)
	}

	// The EEPROM image with the bootstrap area (and the grant issuer's key:
	// the device runs MSSL only with one); inspect shows the area and the
	// SAs derived from IK, never a key.
	mustRun(t, "keygen", "owner", "-o", p("owner.pem"), "--bits", "1024")
	mustRun(t, "--quiet", "provision", "--bootstrap", devFile, "--ip", simDevA, "--issuer", p("owner.pem"), "--mssl-seal-only", "--firmware", elf, "-o", p("dev.hex"))
	out = mustRun(t, "provision", "inspect", p("dev.hex"))
	for _, w := range []string{"device id: 0x0000002a", "RN_i fingerprint " + enr.Devices[0].RNPrint, "the SAs derive from it", "inbound SA: 0x"} {
		if !strings.Contains(out, w) {
			t.Errorf("provision inspect lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(strings.ToLower(out), hex.EncodeToString(enrolled.IK[:])) || strings.Contains(strings.ToLower(out), hex.EncodeToString(enrolled.RNi[:])) {
		t.Errorf("provision inspect shows a secret:\n%s", out)
	}
	if _, errs, code := mstoolRun(t, "provision", "--bootstrap", devFile, "--ip", simDevA, "--port", p("nope")); code != exitUsage || !strings.Contains(errs, "does not write the bootstrap area") {
		t.Errorf("--bootstrap with --port: exit %d\n%s", code, errs)
	}

	eep, _, err := sim.PrepareEEPROM(p("dev.hex"), "atmega328p")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf, EEPROM: eep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Stop() })

	addr, stopServe := startServe(t, repo, p("ctl.key"))
	join := func(ident string) {
		t.Helper()
		mustRun(t, "bootstrap", "join", "--controller", p("ctl.key"), "--server", addr, "--port", dev.Port,
			"--label-image", png, "--timeout", "3s", "-o", p(ident))
	}
	ping := func(sa string) (string, int) {
		t.Helper()
		out, errs, code := mstoolRun(t, "--json", "esp", "ping", "--sa", sa, "--port", dev.Port, "-c", "1", "--timeout", "2s")
		return out + errs, code
	}
	deriveSA := func(sa string) {
		t.Helper()
		mustRun(t, "esp", "sa", "new", "--repo", repo, "--device-id", "0x2a", "--src", simHost, "--dst", simDevA, "-o", p(sa))
	}
	grant := func(name string) {
		t.Helper()
		mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--repo", repo, "--device-id", "0x2a", "--host-ip", simHost,
			"--tasks", "led,id", "--serial", "1", "--valid-for", "720h", "-o", p(name))
	}
	msslExec := func(name string, args ...string) (string, int) {
		t.Helper()
		out, errs, code := mstoolRun(t, append([]string{"mssl", "exec", "--port", dev.Port, "--device-ip", simDevA, "--timeout", "5s", "--grant", p(name + ".grant")}, args...)...)
		return out + errs, code
	}

	// Before any join the repository holds IK: deriving from it warns. The
	// device runs those SAs (the installer's, until the join), and traffic
	// under them raises its sequence counters.
	if _, errs, code := mstoolRun(t, "esp", "sa", "new", "--repo", repo, "--device-id", "0x2a", "--src", simHost, "--dst", simDevA, "-o", p("ik.sa")); code != 0 || !strings.Contains(errs, "has not joined yet") {
		t.Errorf("esp sa new before a join: exit %d\n%s", code, errs)
	}
	for i := 0; i < 3; i++ {
		if res, code := ping(p("ik.sa")); code != 0 || !strings.Contains(res, `"received":1`) {
			t.Fatalf("esp ping with the enrolment key's SAs: exit %d\n%s", code, res)
		}
	}

	// A controller whose SK_cs the server does not hold gets no answer
	// (exit 3), and the device keeps IK.
	mustRun(t, "bootstrap", "controller", "--id", "1", "-o", p("stolen.key"))
	if _, errs, code := mstoolRun(t, "bootstrap", "join", "--controller", p("stolen.key"), "--server", addr, "--port", dev.Port,
		"--label-image", png, "--timeout", "1s", "-o", p("stolen.id")); code != exitLink {
		t.Fatalf("join with a wrong SK_cs: exit %d, want %d\n%s", code, exitLink, errs)
	}
	if res, code := ping(p("ik.sa")); code != 0 || !strings.Contains(res, `"received":1`) {
		t.Fatalf("after the refused join the device does not run IK's SAs: exit %d\n%s", code, res)
	}

	// The first join, over the serial management channel.
	join("dev1.id")
	out = mustRun(t, "--json", "identify", "--port", dev.Port)
	deriveSA("dev1.sa")
	sas := mustRun(t, "--json", "esp", "sa", "show", p("dev1.sa"))
	for _, spi := range spis(t, sas) {
		if !strings.Contains(out, spi) {
			t.Errorf("the device does not report SPI %s of the derived SAs:\n%s", spi, out)
		}
	}
	// The join reset the counters with the keys: the new SA file's first
	// sequence number is accepted although the IK SAs went further.
	if res, code := ping(p("dev1.sa")); code != 0 || !strings.Contains(res, `"received":1`) {
		t.Fatalf("esp ping with the derived SAs: exit %d\n%s", code, res)
	}
	if res, code := ping(p("ik.sa")); code == 0 {
		t.Fatalf("esp ping with the enrolment key's SAs still answered after the join:\n%s", res)
	}
	if out, errs, code := mstoolRun(t, "--json", "esp", "exec", "-p", dev.Port, "--sa", p("dev1.sa"), "id"); code != 0 || !strings.Contains(out, "0x0000002a") {
		t.Fatalf("esp exec id: exit %d\n%s%s", code, out, errs)
	}
	grant("g1")
	if res, code := msslExec("g1", "led", "on"); code != 0 {
		t.Fatalf("mssl exec with a grant signed from the repository: exit %d\n%s", code, res)
	}
	// The join's identity file holds the same key as the repository.
	mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--device", p("dev1.id"), "--host-ip", simHost,
		"--tasks", "led", "--serial", "1", "--valid-for", "720h", "-o", p("g1id"))
	if res, code := msslExec("g1id", "led", "off"); code != 0 {
		t.Fatalf("mssl exec with a grant signed from the join's identity: exit %d\n%s", code, res)
	}

	// A second join (re-configuration): the new PSK works, the old one stops.
	join("dev2.id")
	deriveSA("dev2.sa")
	if res, code := ping(p("dev2.sa")); code != 0 || !strings.Contains(res, `"received":1`) {
		t.Fatalf("esp ping after the second join: exit %d\n%s", code, res)
	}
	if res, code := ping(p("dev1.sa")); code == 0 {
		t.Fatalf("esp ping with the first join's SAs still answered:\n%s", res)
	}
	grant("g2")
	if res, code := msslExec("g2", "led", "on"); code != 0 {
		t.Fatalf("mssl exec after the second join: exit %d\n%s", code, res)
	}
	if res, code := msslExec("g1", "led", "on"); code != exitAuth {
		t.Fatalf("mssl exec with the first join's grant: exit %d, want %d\n%s", code, exitAuth, res)
	}

	stats := stopServe()
	if stats["commits"] != 2 {
		t.Errorf("server stats: %v", stats)
	}
}

// startServe runs 'mstool bootstrap serve' in-process on a free loopback
// port; the returned function stops it (SIGINT, which the command handles
// while it runs) and returns its counters.
func startServe(t *testing.T, repo, ctl string) (string, func() map[string]float64) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		var errb strings.Builder
		code := run([]string{"mstool", "--json", "bootstrap", "serve", "--repo", repo, "--controllers", ctl, "--listen", "127.0.0.1:0"},
			strings.NewReader(""), pw, &errb)
		pw.Close()
		done <- code
	}()
	lines := bufio.NewScanner(pr)
	var ev struct {
		Event string             `json:"event"`
		Addr  string             `json:"addr"`
		Stats map[string]float64 `json:"stats"`
	}
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &ev) != nil || ev.Event != "listening" {
		t.Fatalf("bootstrap serve did not start: %q", lines.Text())
	}
	addr := ev.Addr
	rest := make(chan map[string]float64, 1)
	go func() {
		var last map[string]float64
		for lines.Scan() {
			if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Event == "stopped" {
				last = ev.Stats
			}
		}
		rest <- last
	}()
	stopped := false
	stop := func() map[string]float64 {
		if stopped {
			return nil
		}
		stopped = true
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		if code := <-done; code != 0 {
			t.Errorf("bootstrap serve: exit %d", code)
		}
		return <-rest
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// spis are the SPIs ("0x...") of an 'esp sa show --json' output.
func spis(t *testing.T, out string) []string {
	t.Helper()
	var f struct {
		SAs []struct {
			SPI string `json:"spi"`
		} `json:"sas"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("esp sa show: %v\n%s", err, out)
	}
	var s []string
	for _, sa := range f.SAs {
		s = append(s, sa.SPI)
	}
	if len(s) != 2 {
		t.Fatalf("esp sa show: %s", out)
	}
	return s
}
