package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/devkey"
	"github.com/mstool/mstool/pkg/espsession"
	"github.com/mstool/mstool/pkg/fwimage"
	"github.com/mstool/mstool/pkg/link"
	"github.com/mstool/mstool/pkg/provision"
	"github.com/mstool/mstool/pkg/safile"
)

// These tests run the real avrdude against a simulated Arduino Uno: the
// mssim harness with optiboot (built from Debian's arduino-core-avr
// source by 'make -C firmware optiboot') and auto-reset on port open
// (docs/flash.md, "Simulated bootloader").

// oldApp is an "old application": rjmp . at the reset vector. It never
// answers on the UART, so only a flashed mstool firmware can.
const oldApp = ":02000000FFCF30\n:00000001FF\n"

type simBoard struct {
	port string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// startUno starts the simulated board: optiboot plus the old application,
// auto-reset on open unless noReset.
func startUno(t *testing.T, noReset bool) *simBoard {
	t.Helper()
	app := filepath.Join(t.TempDir(), "old.hex")
	if err := os.WriteFile(app, []byte(oldApp), 0o644); err != nil {
		t.Fatal(err)
	}
	return startUnoWith(t, noReset, app, "")
}

// startUnoWith starts the simulated board with optiboot and the
// application app (ELF or Intel HEX), and the EEPROM image file eep if not
// empty; auto-reset on open unless noReset.
func startUnoWith(t *testing.T, noReset bool, app, eep string) *simBoard {
	t.Helper()
	harness := testenv.Artifact(t, "firmware/build/mssim", "-C firmware sim")
	boot := testenv.Artifact(t, "firmware/build/optiboot/optiboot_atmega328.hex", "-C firmware optiboot")
	args := []string{"-v", "-B", boot}
	if !noReset {
		args = append(args, "-R")
	}
	if eep != "" {
		args = append(args, "-e", eep)
	}
	args = append(args, app)
	cmd := exec.Command(harness, args...)
	b := &simBoard{cmd: cmd, log: &bytes.Buffer{}}
	cmd.Stderr = b.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("mssim stderr (last 3000 bytes):\n%s", tail(b.log.String(), 3000))
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "port="); ok {
			b.port = p
			break
		}
	}
	if b.port == "" {
		t.Fatalf("mssim printed no port: %s", b.log.String())
	}
	go io.Copy(io.Discard, out)
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// runMstool runs the CLI in-process and returns its exit code and output.
func runMstool(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"mstool"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func firmwareELF(t *testing.T, mcu string) string {
	return testenv.Artifact(t, "firmware/build/"+mcu+"/mstool.elf", "-C firmware")
}

// The acceptance test: mstool flash writes the real firmware through
// optiboot with the real avrdude, and the board restarts into it.
func TestFlashSimulatedUno(t *testing.T) {
	testenv.Tool(t, "avrdude", "avrdude")
	elf := firmwareELF(t, "atmega328p")
	im, err := fwimage.Load(elf)
	if err != nil {
		t.Fatal(err)
	}
	b := startUno(t, false)

	code, stdout, stderr := runMstool("--json", "flash", "--board", "uno", "--port", b.port, elf)
	if code != 0 {
		t.Fatalf("mstool flash exited %d\nstderr: %s", code, stderr)
	}
	var rep flashReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if !rep.Verified || rep.FlashBytes != len(im.Flash) || rep.Signature != "1e950f" || rep.FirmwareMCU != "atmega328p" {
		t.Errorf("report = %+v, want verified, %d flash bytes, signature 1e950f", rep, len(im.Flash))
	}
	if !strings.Contains(b.log.String(), "external reset") {
		t.Errorf("the harness saw no auto-reset")
	}

	// Opening the port resets the board into optiboot again; Open waits
	// until the new firmware answers (the first IDENTIFY makes optiboot
	// give up, not being STK500, and start the application).
	d, err := device.Open(b.port, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := d.Identify(context.Background())
	if err != nil {
		t.Fatalf("the flashed firmware does not answer IDENTIFY: %v", err)
	}
	if info.MCU != "atmega328p" {
		t.Errorf("IDENTIFY says MCU %q", info.MCU)
	}

	// The acceptance: the flashed board, provisioned over serial
	// through its firmware (docs/provisioning.md), answers an ESP ping.
	dir := t.TempDir()
	key, sa := filepath.Join(dir, "dev.key"), filepath.Join(dir, "host.sa")
	for _, args := range [][]string{
		{"-q", "keygen", "device", "-o", key},
		{"-q", "esp", "sa", "new", "-o", sa, "--suite", "aes128-ccm8", "--src", "10.0.0.1", "--dst", "10.0.0.2"},
	} {
		if code, _, stderr := runMstool(args...); code != 0 {
			t.Fatalf("mstool %v: %s", args, stderr)
		}
	}
	ident, err := devkey.Parse(mustRead(t, key))
	if err != nil {
		t.Fatal(err)
	}
	sas, err := safile.ReadFile(sa)
	if err != nil {
		t.Fatal(err)
	}
	mirror := sas.Mirror()
	img, err := provision.Build(&provision.Config{DeviceID: ident.ID, Addr: netip.MustParseAddr("10.0.0.2"),
		Peer: netip.MustParseAddr("10.0.0.1"), MasterKey: ident.MasterKey,
		Inbound: mirror.Inbound[0], Outbound: mirror.Outbound[0]}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := d.Provision(context.Background(), &device.ProvisionRequest{Image: img}); err != nil || !res.Verified {
		t.Fatalf("serial provisioning of the flashed board: %+v, %v", res, err)
	}
	d.Close()
	// Resets the board again: OpenSerial waits for the firmware, so the
	// first echo request is not lost to optiboot.
	l, err := link.OpenSerial(b.port, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sess, err := espsession.New(espsession.Config{SAs: sas, Link: l, Timeout: 3 * time.Second, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, perr := sess.Ping(context.Background(), 1, []byte("flashed and provisioned")); perr != nil {
		t.Fatalf("ESP ping to the flashed, serially provisioned board: %v", perr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Each avrdude failure the simulation can cause, with the real avrdude.
func TestFlashErrorsSimulated(t *testing.T) {
	testenv.Tool(t, "avrdude", "avrdude")
	elf := firmwareELF(t, "atmega328p")
	elf168 := firmwareELF(t, "atmega168")
	tests := []struct {
		name    string
		noReset bool
		args    func(port string) []string
		code    int
		msg     string
		hint    string
	}{
		{
			// The 168 image on a board profile for a 168 whose chip is
			// really a 328P: optiboot answers with the 328P's signature.
			name: "signature mismatch",
			args: func(p string) []string {
				return []string{"flash", "--board", "pro-mini", "--mcu", "atmega168", "--baud", "115200", "--port", p, elf168}
			},
			code: exitFailure, msg: "device signature mismatch: the chip answered 1e950f, ATmega168 is 1e9406", hint: "choose the right --board/--mcu",
		},
		{
			// 57600 baud against optiboot's 115200: the harness garbles
			// the bytes, optiboot gives up and starts the application.
			name: "wrong baud",
			args: func(p string) []string {
				return []string{"flash", "--board", "nano", "--sync-attempts", "1", "--port", p, elf}
			},
			code: exitLink, msg: "bootloader is not responding", hint: "wrong board profile or baud rate",
		},
		{
			// No auto-reset: the application runs, nothing answers.
			name: "bootloader not running", noReset: true,
			args: func(p string) []string {
				return []string{"flash", "--sync-attempts", "1", "--port", p, elf}
			},
			code: exitLink, msg: "bootloader is not responding", hint: "press the board's reset button",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startUno(t, tt.noReset)
			code, _, stderr := runMstool(tt.args(b.port)...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) || !strings.Contains(stderr, tt.hint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, %q and hint %q", code, stderr, tt.code, tt.msg, tt.hint)
			}
		})
	}
}

// Permission denied on the port, from the real avrdude: as root (where
// file modes do not stop anyone) avrdude runs as nobody through setpriv;
// otherwise the pty is chmod 000 and mstool's own check sees it first.
func TestFlashPermissionDenied(t *testing.T) {
	avr := testenv.Tool(t, "avrdude", "avrdude")
	elf := firmwareELF(t, "atmega328p")
	b := startUno(t, false)
	args := []string{"flash", "--sync-attempts", "1", "--port", b.port, elf}
	if os.Geteuid() == 0 {
		setpriv := testenv.Tool(t, "setpriv", "util-linux")
		nobody, err := user.Lookup("nobody")
		if err != nil {
			testenv.Missing(t, "user nobody", "a system user to run avrdude unprivileged")
		}
		if err := os.Chmod(b.port, 0o600); err != nil {
			t.Fatal(err)
		}
		wrapper := filepath.Join(t.TempDir(), "avrdude")
		script := fmt.Sprintf("#!/bin/sh\nexec %s --reuid=%s --regid=%s --clear-groups %s \"$@\"\n", setpriv, nobody.Uid, nobody.Gid, avr)
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"flash", "--avrdude", wrapper}, args[1:]...)
	} else if err := os.Chmod(b.port, 0); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMstool(args...)
	if code != exitLink || !strings.Contains(stderr, "permission denied on serial port "+b.port) || !strings.Contains(stderr, "dialout") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// avrdude missing: nothing on PATH.
func TestFlashAvrdudeMissing(t *testing.T) {
	elf := firmwareELF(t, "atmega328p")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("MSTOOL_AVRDUDE", "")
	port := filepath.Join(t.TempDir(), "tty")
	if err := os.WriteFile(port, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMstool("flash", "--port", port, elf)
	if code != exitFailure || !strings.Contains(stderr, "avrdude not found on PATH") || !strings.Contains(stderr, "apt-get install avrdude") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
