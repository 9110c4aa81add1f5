//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/testenv"
)

// A shell on a terminal that is killed (SIGTERM, or SIGHUP when the
// terminal window closes) while it waits at its prompt puts the terminal
// back first: it was left in raw mode, without echo or line editing.
func TestShellSignalRestoresTerminal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sa := filepath.Join(dir, "u.sa")
			mustRun(t, "esp", "sa", "new", "-o", sa, "--host-ip", "10.0.0.1", "--device-ip", "10.0.0.2", "--udp-encap")

			m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
			if err != nil {
				testenv.Missing(t, "pseudo-terminals (/dev/ptmx)", err.Error())
			}
			defer m.Close()
			if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
				t.Fatal(err)
			}
			n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
			if err != nil {
				t.Fatal(err)
			}
			tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer tty.Close()
			before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(mstoolBin(t), "esp", "shell", "--udp", "127.0.0.1:9", "--sa", sa)
			cmd.Env = append(os.Environ(), "MSTOOL_STATE_DIR="+dir, "TERM=xterm")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var out []byte
			buf := make([]byte, 4096)
			deadline := time.Now().Add(10 * time.Second)
			for !bytes.Contains(out, []byte("esp> ")) {
				if time.Now().After(deadline) {
					t.Fatalf("no prompt:\n%s", out)
				}
				m.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				k, _ := m.Read(buf)
				out = append(out, buf[:k]...)
			}
			// The prompt is written before the line editor makes the
			// terminal raw: wait for that.
			for {
				now, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
				if err != nil {
					t.Fatal(err)
				}
				if now.Lflag&unix.ECHO == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the terminal never went raw")
				}
				time.Sleep(20 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			cmd.Wait()
			after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
				t.Errorf("terminal not restored: lflag %#x iflag %#x oflag %#x, before %#x %#x %#x",
					after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
			}
			if ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("ended with %v, want killed by %v", cmd.ProcessState, sig)
			}
		})
	}
}

// openPTY returns the master and the terminal end of a new pseudo-terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
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
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return m, tty
}

// esp sa export writes secret keys: standard output is refused when it is
// a terminal, as for every other secret (docs/cli.md); it printed them.
func TestSAExportRefusesTerminal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sa := filepath.Join(dir, "x.sa")
	mustRun(t, "esp", "sa", "new", "-o", sa, "--host-ip", "10.0.0.1", "--device-ip", "10.0.0.2", "--suite", "aes128-ctr-hmac-sha256-128")
	for _, format := range []string{"--wireshark", "--xfrm"} {
		m, tty := openPTY(t)
		cmd := exec.Command(mstoolBin(t), "esp", "sa", "export", format, sa)
		cmd.Stdout = tty
		var errb strings.Builder
		cmd.Stderr = &errb
		err := cmd.Run()
		tty.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Errorf("%s: %v, want exit %d", format, err, exitFailure)
		}
		if !strings.Contains(errb.String(), "refusing to write secret key material to a terminal") {
			t.Errorf("%s: stderr:\n%s", format, errb.String())
		}
		m.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if out, _ := io.ReadAll(m); len(out) > 0 {
			t.Errorf("%s: the terminal got %q", format, out)
		}
	}
}
