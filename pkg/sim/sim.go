// Package sim starts and stops the simulated device: the real firmware
// image running on simavr in the mssim harness (firmware/sim/mssim.c),
// whose UART is bridged to a pseudo-terminal. The pty is what
// go.bug.st/serial and every mstool command open, exactly as a USB board.
package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mstool/mstool/pkg/keyfile"
)

// Errors callers can branch on.
var (
	// ErrHarnessNotFound: the mssim binary was not found.
	ErrHarnessNotFound = errors.New("sim: harness mssim not found")
	// ErrFirmwareNotFound: the firmware image was not found.
	ErrFirmwareNotFound = errors.New("sim: firmware image not found")
)

// HarnessEnv names an environment variable that overrides where the
// harness binary is.
const HarnessEnv = "MSTOOL_MSSIM"

// Options say what to simulate. Zero values pick the defaults.
type Options struct {
	// Harness is the mssim binary; default: $MSTOOL_MSSIM, then
	// firmware/build/mssim in the working directory or a parent (a source
	// checkout), then ../lib/mstool/mssim or mssim next to mstool's
	// executable (installed or unpacked), then mssim on PATH.
	Harness string
	// Firmware is the ELF or Intel HEX image; default
	// firmware/build/<MCU>/mstool.elf in the working directory or a
	// parent, then ../share/mstool/firmware/<MCU>/mstool.elf or
	// firmware/<MCU>/mstool.elf next to mstool's executable.
	Firmware string
	// MCU is atmega328p (default) or atmega168.
	MCU string
	// EEPROM is a file holding the EEPROM image: loaded at start (absent:
	// erased), saved when it changes and at exit, mode 0600. It must not
	// be a symbolic link, and one simulator at a time runs on it (Start
	// fails with ErrEEPROMInUse). Empty: not persisted.
	EEPROM string
	// Link, when set, is a symbolic link to the pty that the harness
	// makes and removes at exit: a stable name across restarts (as
	// /dev/serial/by-id/... is for a USB board).
	Link string
	// BootAddr, when non-zero, starts execution at this byte address (a
	// bootloader such as optiboot).
	BootAddr uint32
	// Stderr receives the harness's diagnostics (default: discarded).
	Stderr io.Writer
	// StartTimeout bounds the wait for the port line (default 10 s).
	StartTimeout time.Duration
}

// Device is a running simulated device.
type Device struct {
	// Port is the pseudo-terminal path (/dev/pts/N) to open.
	Port string
	// MCU and FCPU are what the harness simulates.
	MCU  string
	FCPU uint64
	// Firmware and Harness are the resolved paths.
	Firmware, Harness string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// FindUp looks for rel in the working directory and its parents and
// returns the first existing path.
func FindUp(rel string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// The installed layout, relative to the directory of mstool's executable
// (make install: PREFIX/bin/mstool, PREFIX/lib/mstool/mssim,
// PREFIX/share/mstool/firmware/<mcu>/), and the portable one: mstool,
// mssim and firmware/<mcu>/ side by side in one unpacked directory.
var (
	installedHarness  = []string{filepath.Join("..", "lib", "mstool", "mssim"), "mssim"}
	installedFirmware = []string{filepath.Join("..", "share", "mstool", "firmware"), "firmware"}
)

// executable is os.Executable; tests replace it.
var executable = os.Executable

// exeDir is the directory of mstool's executable, links resolved (a link
// /usr/local/bin/mstool -> /opt/mstool/bin/mstool finds /opt/mstool/lib).
func exeDir() (string, bool) {
	exe, err := executable()
	if err != nil || exe == "" {
		return "", false
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	return filepath.Dir(exe), true
}

// findNextToExe looks for each of rels relative to the executable's
// directory and returns the first existing file.
func findNextToExe(rels ...string) (string, bool) {
	dir, ok := exeDir()
	if !ok {
		return "", false
	}
	for _, rel := range rels {
		p := filepath.Join(dir, rel)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// FindHarness resolves the harness binary as Options.Harness documents.
func FindHarness(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(HarnessEnv)
	}
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("%w: %v", ErrHarnessNotFound, err)
		}
		return explicit, nil
	}
	if p, ok := FindUp(filepath.Join("firmware", "build", "mssim")); ok {
		return p, nil
	}
	if p, ok := findNextToExe(installedHarness...); ok {
		return p, nil
	}
	if p, err := exec.LookPath("mssim"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (looked for firmware/build/mssim here and in parent directories, %s next to mstool's executable, and on PATH)",
		ErrHarnessNotFound, strings.Join(installedHarness, " and "))
}

// FindFirmware resolves the firmware image as Options.Firmware documents.
func FindFirmware(explicit, mcu string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("%w: %v", ErrFirmwareNotFound, err)
		}
		return explicit, nil
	}
	rel := filepath.Join("firmware", "build", mcu, "mstool.elf")
	if p, ok := FindUp(rel); ok {
		return p, nil
	}
	var next []string
	for _, d := range installedFirmware {
		next = append(next, filepath.Join(d, mcu, "mstool.elf"))
	}
	if p, ok := findNextToExe(next...); ok {
		return p, nil
	}
	return "", fmt.Errorf("%w (looked for %s here and in parent directories, and %s next to mstool's executable)",
		ErrFirmwareNotFound, rel, strings.Join(next, " and "))
}

// Start launches the harness and returns once the device runs and its
// port exists. Cancelling ctx stops the device as Stop does.
func Start(ctx context.Context, o Options) (*Device, error) {
	if o.MCU == "" {
		o.MCU = "atmega328p"
	}
	switch o.MCU {
	case "atmega328p", "atmega168":
	default:
		return nil, fmt.Errorf("sim: unsupported MCU %q (atmega328p or atmega168)", o.MCU)
	}
	harness, err := FindHarness(o.Harness)
	if err != nil {
		return nil, err
	}
	fw, err := FindFirmware(o.Firmware, o.MCU)
	if err != nil {
		return nil, err
	}
	if o.EEPROM != "" {
		// The harness refuses a link too; this says so in a typed error.
		if fi, err := os.Lstat(o.EEPROM); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("sim: %s %w", o.EEPROM, keyfile.ErrSymlink)
		}
	}
	// -P: the harness stops as soon as this process is gone, however it
	// ends (a SIGKILL gives no chance to Stop it).
	args := []string{"-m", o.MCU, "-P", strconv.Itoa(os.Getpid())}
	if o.EEPROM != "" {
		args = append(args, "-e", o.EEPROM)
	}
	if o.Link != "" {
		args = append(args, "-l", o.Link)
	}
	if o.BootAddr != 0 {
		args = append(args, "-b", fmt.Sprintf("0x%x", o.BootAddr))
	}
	args = append(args, fw)
	cmd := exec.Command(harness, args...)
	var diag tailBuffer // the harness's last words, for the errors below
	cmd.Stderr = &diag
	if o.Stderr != nil {
		cmd.Stderr = io.MultiWriter(o.Stderr, &diag)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sim: start %s: %w", harness, err)
	}
	d := &Device{MCU: o.MCU, Firmware: fw, Harness: harness, cmd: cmd, done: make(chan struct{})}

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()

	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for d.Port == "" || d.FCPU == 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				<-d.done
				var ee *exec.ExitError
				if errors.As(d.waitErr, &ee) && ee.ExitCode() == exitEEPROMInUse {
					return nil, fmt.Errorf("%w (%s)", ErrEEPROMInUse, o.EEPROM)
				}
				why := diag.lastLine()
				if why == "" {
					why = "run it with -v for details: " + harness + " " + strings.Join(args, " ")
				}
				return nil, fmt.Errorf("sim: harness exited before the device ran (%v): %s", d.waitErr, why)
			}
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "port":
				d.Port = v
			case "f_cpu":
				d.FCPU, _ = strconv.ParseUint(v, 10, 64)
			}
		case <-timer.C:
			d.Stop()
			return nil, fmt.Errorf("sim: harness printed no port within %v", timeout)
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range lines {
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			d.Stop()
		case <-d.done:
		}
	}()
	return d, nil
}

// exitEEPROMInUse is the harness's exit status when another simulator
// holds its EEPROM file.
const exitEEPROMInUse = 3

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Done is closed when the harness has exited.
func (d *Device) Done() <-chan struct{} { return d.done }

// Err is the harness's exit error, valid after Done.
func (d *Device) Err() error { return d.waitErr }

// Stop asks the harness to exit (SIGTERM: it saves the EEPROM) and waits
// for it, killing it after 5 s. Stop is idempotent.
func (d *Device) Stop() error {
	d.stopOnce.Do(func() {
		select {
		case <-d.done:
			return
		default:
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	<-d.done
	var ee *exec.ExitError
	if errors.As(d.waitErr, &ee) && !ee.Exited() {
		return fmt.Errorf("sim: harness killed: %v", d.waitErr)
	}
	if d.waitErr != nil {
		return fmt.Errorf("sim: harness: %w", d.waitErr)
	}
	return nil
}
