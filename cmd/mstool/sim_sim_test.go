//go:build linux

package main

// `mstool sim` and the mssim harness as an attacker or an accident would
// meet them (issue 10, finding 6): the EEPROM file holding the device's
// keys, a restart with an image the device has moved on from, a killed
// parent, two simulators on one file. Needs 'make firmware' (testenv: fail
// in CI, skip elsewhere).

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// simProc is a child process printing a port line on stdout when its
// simulated device runs: the real `mstool sim` or the bare harness.
type simProc struct {
	cmd    *exec.Cmd
	port   string
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// startProc starts the command and waits for its port line (the harness
// prints "port=/dev/pts/N", mstool sim the bare path). It returns an
// error, with the process's stderr, when the process exits first.
func startProc(t *testing.T, name string, args ...string) (*simProc, error) {
	t.Helper()
	p := &simProc{cmd: exec.Command(name, args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := strings.TrimPrefix(sc.Text(), "port="); strings.HasPrefix(l, "/dev/") {
				select {
				case lines <- l:
				default:
				}
			}
		}
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.port = <-lines:
		return p, nil
	case <-p.done:
		return p, fmt.Errorf("%s exited before its device ran (%v): %s", filepath.Base(name), p.err, p.stderr.String())
	case <-time.After(20 * time.Second):
		return p, fmt.Errorf("%s printed no port in 20 s: %s", filepath.Base(name), p.stderr.String())
	}
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *simProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop on SIGTERM", p.cmd.Path)
	}
}

// exitCode waits for the process and returns its exit status.
func (p *simProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s still runs", p.cmd.Path)
	}
	return p.cmd.ProcessState.ExitCode()
}

// mstoolBin is the real mstool binary (testscript.Main puts the test
// binary on PATH under that name).
func mstoolBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("mstool")
	if err != nil {
		t.Fatalf("mstool is not on PATH (TestMain sets it up): %v", err)
	}
	return p
}

// simArgs are the arguments of `mstool sim` with the built harness and
// firmware.
func simArgs(t *testing.T, extra ...string) []string {
	t.Helper()
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	return append([]string{"sim", "--harness", harness, "--elf", elf}, extra...)
}

// childPIDs lists the processes whose parent is pid (from /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(n); ok && ppid == pid {
			kids = append(kids, n)
		}
	}
	return kids
}

// procStat returns the parent and the state letter of a process.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0][0], true
}

// alive reports whether pid runs (a zombie nobody reaped has exited).
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// TestSimEEPROMFilePrivate: the harness keeps the device's master key and
// SA keys in its EEPROM file. It must stay mode 0600 whatever the umask,
// its rewrites must not go through a symbolic link planted at the
// temporary name, and a symbolic link given as the EEPROM file is refused.
func TestSimEEPROMFilePrivate(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	defer syscall.Umask(syscall.Umask(0o022))
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("a private file of the victim's"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkVictim := func() {
		t.Helper()
		if b, _ := os.ReadFile(victim); string(b) != "a private file of the victim's" {
			t.Errorf("the victim file was written through a symbolic link (%d bytes now)", len(b))
		}
	}
	ee := filepath.Join(dir, "dev.eep")
	p, err := startProc(t, harness, "-e", ee, elf)
	if err != nil {
		t.Fatal(err)
	}
	// The names a predictable temporary file would have.
	pid := p.cmd.Process.Pid
	for _, name := range []string{fmt.Sprintf("%s.tmp%d", ee, pid), ee + ".tmp"} {
		if err := os.Symlink(victim, name); err != nil {
			t.Fatal(err)
		}
	}
	p.stop(t) // the harness saves the EEPROM at exit
	checkVictim()
	fi, err := os.Lstat(ee)
	switch {
	case err != nil:
		t.Fatalf("no EEPROM file: %v", err)
	case !fi.Mode().IsRegular():
		t.Errorf("the EEPROM file is not a regular file: %v", fi.Mode())
	case fi.Mode().Perm() != 0o600:
		t.Errorf("the EEPROM file has mode %04o, want 0600", fi.Mode().Perm())
	case fi.Size() != 1024:
		t.Errorf("the EEPROM file holds %d bytes, want 1024", fi.Size())
	}

	// A symbolic link as the EEPROM file: refused, its target untouched.
	link := filepath.Join(dir, "link.eep")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	p, err = startProc(t, harness, "-e", link, elf)
	if err == nil {
		p.stop(t)
		t.Errorf("the harness ran with a symbolic link as its EEPROM file")
	} else if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("refused without saying why: %v", err)
	}
	// mstool sim says so before it starts the harness.
	if _, errs, code := mstoolRun(t, simArgs(t, "--eeprom", link)...); code != 1 || !strings.Contains(errs, "link.eep is a symbolic link") {
		t.Errorf("mstool sim --eeprom LINK: exit %d: %s", code, errs)
	}
	checkVictim()
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
}

// TestSimRestartKeepsMovedOnEEPROM: restarting `mstool sim --eeprom
// IMAGE.hex` keeps the device's EEPROM after state writes, and after the
// device was re-provisioned over the serial line it refuses to load the
// old image over it (that would bring back the old SA with zeroed
// counters: ESP sequence number 1 again under a used key) unless
// --reset-eeprom asks for exactly that.
func TestSimRestartKeepsMovedOnEEPROM(t *testing.T) {
	bin := mstoolBin(t)
	dir := t.TempDir()
	f := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "keygen", "device", "-o", f("a.key"), "--id", "0x61")
	mustRun(t, "keygen", "device", "-o", f("b.key"), "--id", "0x62")
	mustRun(t, "esp", "sa", "new", "-o", f("a.sa"), "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
	mustRun(t, "esp", "sa", "new", "-o", f("b.sa"), "--suite", "aes128-ccm8", "--src", simHost, "--dst", simDevA)
	mustRun(t, "--quiet", "provision", "-d", f("a.key"), "--ip", simDevA, "--sa", f("a.sa"), "-o", f("a.hex"))

	p, err := startProc(t, bin, simArgs(t, "--eeprom", f("a.hex"))...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.stderr.String(), "loaded the image") {
		t.Errorf("first start: %s", p.stderr.String())
	}
	// A state write (the device reserves outbound sequence numbers).
	mustRun(t, "esp", "ping", "--port", p.port, "--sa", f("a.sa"), "-c", "1")
	p.stop(t)

	// Same image, device state moved on: kept.
	p, err = startProc(t, bin, simArgs(t, "--eeprom", f("a.hex"))...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.stderr.String(), "state kept") {
		t.Errorf("restart after a state write did not keep the device's EEPROM: %s", p.stderr.String())
	}
	// Serial re-provisioning: the device's configuration moves on.
	mustRun(t, "--quiet", "provision", "-d", f("b.key"), "--ip", simDevA, "--sa", f("b.sa"), "--port", p.port, "--current-device", f("a.key"))
	p.stop(t)
	before, err := os.ReadFile(f("a.eep"))
	if err != nil {
		t.Fatal(err)
	}

	// The old image again: refused, the device's EEPROM untouched.
	p, err = startProc(t, bin, simArgs(t, "--eeprom", f("a.hex"))...)
	if err == nil {
		p.stop(t)
		t.Fatalf("restart with the old image ran the device (it reloaded the image over the re-provisioned EEPROM): %s", p.stderr.String())
	}
	if code := p.exitCode(t); code != 1 {
		t.Errorf("refusal: exit %d, want 1", code)
	}
	for _, w := range []string{"has moved on from", "--reset-eeprom"} {
		if !strings.Contains(p.stderr.String(), w) {
			t.Errorf("refusal lacks %q: %s", w, p.stderr.String())
		}
	}
	if after, _ := os.ReadFile(f("a.eep")); !bytes.Equal(after, before) {
		t.Error("the refused start changed the device's EEPROM file")
	}

	// --reset-eeprom: the image is loaded, as flashing it would.
	p, err = startProc(t, bin, simArgs(t, "--eeprom", f("a.hex"), "--reset-eeprom")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.stderr.String(), "loaded the image") {
		t.Errorf("--reset-eeprom: %s", p.stderr.String())
	}
	p.stop(t)
	// The device's EEPROM holds the image's configuration again.
	if _, fresh, err := sim.PrepareEEPROM(f("a.hex"), "atmega328p"); err != nil || fresh {
		t.Errorf("after --reset-eeprom: fresh %v, %v", fresh, err)
	}
}

// TestSimEEPROMInUse: two simulators never share one EEPROM file.
func TestSimEEPROMInUse(t *testing.T) {
	bin := mstoolBin(t)
	ee := filepath.Join(t.TempDir(), "dev.eep")
	a, err := startProc(t, bin, simArgs(t, "--eeprom", ee)...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := startProc(t, bin, simArgs(t, "--eeprom", ee)...)
	if err == nil {
		b.stop(t)
		t.Fatal("a second simulator ran on the EEPROM file of a running one")
	}
	if code := b.exitCode(t); code != 1 || !strings.Contains(b.stderr.String(), "in use by another simulator") {
		t.Errorf("second simulator: exit %d: %s", code, b.stderr.String())
	}
	a.stop(t)
	// Free again once the first one stopped.
	c, err := startProc(t, bin, simArgs(t, "--eeprom", ee)...)
	if err != nil {
		t.Fatal(err)
	}
	c.stop(t)
}

// TestSimHarnessDiesWithParent: when `mstool sim` is killed (SIGKILL: no
// chance to stop the harness), the harness exits too and the EEPROM file
// is free for the next simulator.
func TestSimHarnessDiesWithParent(t *testing.T) {
	bin := mstoolBin(t)
	ee := filepath.Join(t.TempDir(), "dev.eep")
	p, err := startProc(t, bin, simArgs(t, "--eeprom", ee)...)
	if err != nil {
		t.Fatal(err)
	}
	kids := childPIDs(t, p.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("mstool sim has %d child processes, want 1 (the harness)", len(kids))
	}
	h := kids[0]
	t.Cleanup(func() {
		if alive(h) {
			syscall.Kill(h, syscall.SIGKILL)
		}
	})
	p.cmd.Process.Kill()
	<-p.done
	deadline := time.Now().Add(5 * time.Second)
	for alive(h) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(h) {
		t.Fatalf("the harness (pid %d) still runs 5 s after mstool sim was killed", h)
	}
	q, err := startProc(t, bin, simArgs(t, "--eeprom", ee)...)
	if err != nil {
		t.Fatal(err)
	}
	q.stop(t)
}
