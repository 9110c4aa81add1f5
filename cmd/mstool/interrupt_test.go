//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command that Ctrl-C interrupts (here while esp exec waits for an
// answer, its SIGINT handler installed) reports the error and then ends
// by SIGINT, so that a shell loop running it stops: with an exit status
// (it was 1) bash takes the interrupt as handled and runs the next command.
func TestInterruptEndsBySIGINT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sa := filepath.Join(dir, "u.sa")
	mustRun(t, "esp", "sa", "new", "-o", sa, "--host-ip", "10.0.0.1", "--device-ip", "10.0.0.2", "--udp-encap")
	cmd := exec.Command(mstoolBin(t), "esp", "exec", "--udp", "127.0.0.1:9", "--sa", sa, "--timeout", "5s", "led", "read")
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("ended with %v, want killed by SIGINT", cmd.ProcessState)
	}
	if !strings.Contains(errb.String(), "mstool: error: interrupted") {
		t.Errorf("stderr:\n%s", errb.String())
	}
}
