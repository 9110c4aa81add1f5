//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mstool/mstool/internal/testenv"
)

// A pseudo-terminal nobody answers on: a link error that says so.
func TestIdentifyNobodyAnswers(t *testing.T) {
	t.Parallel()
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
