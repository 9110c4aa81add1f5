//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/testenv"
)

// silentPort opens a pseudo-terminal nobody answers on and returns the
// path of its other end.
func silentPort(t *testing.T) string {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "pseudo-terminals (/dev/ptmx)", err.Error())
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/dev/pts/%d", n)
}

// A pseudo-terminal nobody answers on: a link error that says so.
func TestIdentifyNobodyAnswers(t *testing.T) {
	t.Parallel()
	port := silentPort(t)
	out, errs, code := mstoolRun(t, "identify", "--port", port)
	if code != exitLink {
		t.Fatalf("exit %d, want %d\n%s", code, exitLink, errs)
	}
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	for _, w := range []string{"error: identify: no device answered on " + port + ": ", "hint: is the mstool firmware running"} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
}

// Ctrl-C while a command waits up to 3 s for the device to answer after
// opening its port ends mstool at once, by the signal (as the shell
// expects of an interrupted program), in every command that opens the
// management channel; it was swallowed until the wait ran out.
func TestInterruptWhileWaitingForDevice(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"identify"},
		{"bench"},
		{"provision", "--device", "dev.key", "--device-ip", "10.0.0.2"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			port := silentPort(t)
			dir := t.TempDir()
			cmd := exec.Command(mstoolBin(t), append(args, "--port", port)...)
			cmd.Dir = dir
			if args[0] == "provision" {
				if out, err := exec.Command(mstoolBin(t), "keygen", "device", "--id", "5", "-o", dir+"/dev.key").CombinedOutput(); err != nil {
					t.Fatalf("keygen: %v\n%s", err, out)
				}
			}
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(400 * time.Millisecond)
			start := time.Now()
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("ended %v after SIGINT", d.Round(time.Millisecond))
			}
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGINT {
				t.Errorf("ended with %v, want killed by SIGINT\n%s", cmd.ProcessState, errb.String())
			}
		})
	}
}
