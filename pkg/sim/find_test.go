package sim

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// touch creates the file p (and its directories), executable.
func touch(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// outside runs the lookup from an empty directory, with no $MSTOOL_MSSIM,
// an empty PATH and mstool's executable at exe.
func outside(t *testing.T, exe string) {
	t.Chdir(t.TempDir())
	t.Setenv(HarnessEnv, "")
	t.Setenv("PATH", "")
	old := executable
	executable = func() (string, error) { return exe, nil }
	t.Cleanup(func() { executable = old })
}

// TestFindInstalled: an installed mstool (make install, a package) finds
// the harness and the reference firmware next to its executable, run
// from any directory.
func TestFindInstalled(t *testing.T) {
	prefix := t.TempDir()
	exe := touch(t, filepath.Join(prefix, "bin", "mstool"))
	harness := touch(t, filepath.Join(prefix, "lib", "mstool", "mssim"))
	elf := touch(t, filepath.Join(prefix, "share", "mstool", "firmware", "atmega168", "mstool.elf"))
	outside(t, exe)
	if got, err := FindHarness(""); err != nil || got != harness {
		t.Fatalf("FindHarness = %q, %v; want %q", got, err, harness)
	}
	if got, err := FindFirmware("", "atmega168"); err != nil || got != elf {
		t.Fatalf("FindFirmware = %q, %v; want %q", got, err, elf)
	}
	if _, err := FindFirmware("", "atmega328p"); !errors.Is(err, ErrFirmwareNotFound) {
		t.Fatalf("FindFirmware(atmega328p) = %v, want ErrFirmwareNotFound", err)
	}
}

// TestFindPortable: an unpacked archive holds mstool, mssim and
// firmware/<mcu>/ in one directory.
func TestFindPortable(t *testing.T) {
	dir := t.TempDir()
	exe := touch(t, filepath.Join(dir, "mstool"))
	harness := touch(t, filepath.Join(dir, "mssim"))
	elf := touch(t, filepath.Join(dir, "firmware", "atmega328p", "mstool.elf"))
	outside(t, exe)
	if got, err := FindHarness(""); err != nil || got != harness {
		t.Fatalf("FindHarness = %q, %v; want %q", got, err, harness)
	}
	if got, err := FindFirmware("", "atmega328p"); err != nil || got != elf {
		t.Fatalf("FindFirmware = %q, %v; want %q", got, err, elf)
	}
}

// TestFindSymlinkedExecutable: a link to mstool (e.g. /usr/local/bin/mstool
// -> /opt/mstool/bin/mstool) finds the files next to the real executable.
func TestFindSymlinkedExecutable(t *testing.T) {
	prefix := t.TempDir()
	real := touch(t, filepath.Join(prefix, "bin", "mstool"))
	harness := touch(t, filepath.Join(prefix, "lib", "mstool", "mssim"))
	link := filepath.Join(t.TempDir(), "mstool")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	outside(t, link)
	got, err := FindHarness("")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(harness); got != harness && got != want {
		t.Fatalf("FindHarness = %q, want %q", got, harness)
	}
}

// TestFindOrder: $MSTOOL_MSSIM, then a source checkout around the working
// directory, come before the files next to the executable.
func TestFindOrder(t *testing.T) {
	prefix := t.TempDir()
	exe := touch(t, filepath.Join(prefix, "bin", "mstool"))
	touch(t, filepath.Join(prefix, "lib", "mstool", "mssim"))
	touch(t, filepath.Join(prefix, "share", "mstool", "firmware", "atmega328p", "mstool.elf"))
	outside(t, exe)
	wd, _ := os.Getwd()
	checkout := touch(t, filepath.Join(wd, "firmware", "build", "mssim"))
	elf := touch(t, filepath.Join(wd, "firmware", "build", "atmega328p", "mstool.elf"))
	sub := filepath.Join(wd, "sub")
	os.Mkdir(sub, 0o755)
	t.Chdir(sub)
	if got, err := FindHarness(""); err != nil || got != checkout {
		t.Fatalf("FindHarness = %q, %v; want the checkout's %q", got, err, checkout)
	}
	if got, err := FindFirmware("", "atmega328p"); err != nil || got != elf {
		t.Fatalf("FindFirmware = %q, %v; want the checkout's %q", got, err, elf)
	}
	env := touch(t, filepath.Join(t.TempDir(), "my-mssim"))
	t.Setenv(HarnessEnv, env)
	if got, err := FindHarness(""); err != nil || got != env {
		t.Fatalf("FindHarness = %q, %v; want $%s %q", got, err, HarnessEnv, env)
	}
}

// TestFindNotFound: the error names every place looked at.
func TestFindNotFound(t *testing.T) {
	exe := touch(t, filepath.Join(t.TempDir(), "bin", "mstool"))
	outside(t, exe)
	_, err := FindHarness("")
	if !errors.Is(err, ErrHarnessNotFound) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	_, err = FindFirmware("", "atmega328p")
	if !errors.Is(err, ErrFirmwareNotFound) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
}
