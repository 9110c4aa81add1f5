//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/testenv"
)

// TestESPPortPermissionDenied runs the real binary as an unprivileged user
// (nobody, through setpriv) against a serial port it may not open, as a user
// outside the dialout group would: exit 3 and the dialout hint.
func TestESPPortPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs as root (as CI does): it needs setpriv to become another user")
	}
	setpriv := testenv.Tool(t, "setpriv", "util-linux")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		testenv.Missing(t, "user nobody", "a system user to run mstool unprivileged")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// A directory nobody owns, holding the binary and an SA file (0600, nobody's).
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mstool")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sa := filepath.Join(dir, "host.sa")
	mustRun(t, "-q", "esp", "sa", "new", "-o", sa, "--src", "10.0.0.1", "--dst", "10.0.0.2")
	for _, p := range []string{dir, sa} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}

	// A pseudo-terminal: its slave is root's (mode 0620, group tty), as a
	// USB serial port is root:dialout 0660.
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
	port := fmt.Sprintf("/dev/pts/%d", n)

	cmd := exec.Command(setpriv, "--reuid="+nobody.Uid, "--regid="+nobody.Gid, "--clear-groups",
		bin, "esp", "ping", "--port", port, "--sa", sa, "-c", "1")
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitLink {
		t.Fatalf("esp ping on a forbidden port: %v, want exit %d\n%s", err, exitLink, out)
	}
	if !strings.Contains(string(out), "permission") || !strings.Contains(string(out), "dialout") {
		t.Fatalf("no permission error with the dialout hint:\n%s", out)
	}
	t.Logf("%s", out)
}
