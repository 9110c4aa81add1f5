package keyfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWriteNewCreates0600AndRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if err := WriteNew(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 600", fi.Mode().Perm())
	}
	err = WriteNew(p, []byte("other"), 0o600)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second write: %v, want ErrExists", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "secret" {
		t.Fatalf("file changed to %q", got)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(ents))
	}
}

func TestWriteNewRefusesSymlinkTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	if err := WriteNew(link, []byte("x"), 0o600); !errors.Is(err, ErrExists) {
		t.Fatalf("write through dangling symlink: %v, want ErrExists", err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("symlink target was created")
	}
}

func TestWriteNewMissingDir(t *testing.T) {
	if err := WriteNew(filepath.Join(t.TempDir(), "no", "such"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into missing directory succeeded")
	}
}

func TestReadPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		mode     os.FileMode
		insecure bool
	}{
		{0o600, false}, {0o400, false}, {0o640, true}, {0o644, true}, {0o604, true}, {0o660, true},
	} {
		p := filepath.Join(dir, tc.mode.String())
		if err := os.WriteFile(p, []byte("k"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadPrivate(p)
		var ie *InsecureError
		if got := errors.As(err, &ie); got != tc.insecure {
			t.Errorf("mode %o: err %v, insecure=%v want %v", tc.mode, err, got, tc.insecure)
		}
		if tc.insecure && ie.Hint() == "" {
			t.Errorf("mode %o: no hint", tc.mode)
		}
	}
	if _, err := ReadPrivate(dir); err == nil {
		t.Error("reading a directory succeeded")
	}
	if _, err := ReadPrivate(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
