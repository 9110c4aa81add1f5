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

// On a file system without hard links, WriteNew is atomic too: the name
// is reserved empty, and the data arrives whole by a rename over it (a
// crash leaves an empty file or the key, never part of it). An existing
// file is still refused, and a failed rename leaves nothing behind.
func TestWriteNewWithoutHardLinks(t *testing.T) {
	defer func() { link, rename = os.Link, os.Rename }()
	link = func(old, new string) error {
		return &os.LinkError{Op: "link", Old: old, New: new, Err: errors.ErrUnsupported}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	renames := 0
	rename = func(old, new string) error {
		renames++
		if got, err := os.ReadFile(new); err != nil || len(got) != 0 {
			t.Errorf("before the rename %s holds %q (%v), want the empty placeholder", new, got, err)
		}
		return os.Rename(old, new)
	}
	if err := WriteNew(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "secret" || renames != 1 {
		t.Fatalf("file holds %q after %d renames", got, renames)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 600", fi.Mode().Perm())
	}
	if err := WriteNew(p, []byte("other"), 0o600); !errors.Is(err, ErrExists) || renames != 1 {
		t.Fatalf("second write: %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "secret" {
		t.Fatalf("file changed to %q", got)
	}
	rename = func(string, string) error { return errors.New("no space left") }
	if err := WriteNew(filepath.Join(dir, "k2"), []byte("x"), 0o600); err == nil {
		t.Fatal("failed rename: no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(ents))
	}
}

func TestWriteNewRefusesSymlinkTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		symlinkUnavailable(t, err)
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

// plantLink makes dir/name a symbolic link to a victim file holding
// "victim" (mode 0600) and returns both paths.
func plantLink(t *testing.T, name string) (link, victim string) {
	t.Helper()
	dir := t.TempDir()
	victim = filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	link = filepath.Join(dir, name)
	if err := os.Symlink(victim, link); err != nil {
		symlinkUnavailable(t, err)
	}
	return link, victim
}

func checkVictim(t *testing.T, victim string) {
	t.Helper()
	if b, _ := os.ReadFile(victim); string(b) != "victim" {
		t.Fatalf("the link's target was written: %q", b)
	}
}

func TestCreateNeverFollowsSymlinks(t *testing.T) {
	for _, replace := range []bool{false, true} {
		link, victim := plantLink(t, "out.pcap")
		f, err := Create(link, replace)
		if err == nil {
			f.Write([]byte("data"))
			f.Close()
		}
		want := ErrSymlink
		if !replace {
			want = ErrExists
		}
		if !errors.Is(err, want) {
			t.Errorf("replace=%v: %v, want %v", replace, err, want)
		}
		checkVictim(t, victim)
		// A dangling link does not create its target.
		dangling := filepath.Join(filepath.Dir(link), "dangling")
		os.Symlink(filepath.Join(filepath.Dir(link), "created"), dangling)
		if _, err := Create(dangling, replace); err == nil {
			t.Errorf("replace=%v: dangling link accepted", replace)
		}
		if _, err := os.Lstat(filepath.Join(filepath.Dir(link), "created")); err == nil {
			t.Errorf("replace=%v: the dangling link's target was created", replace)
		}
	}
}

func TestCreateReplace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	f, err := Create(p, false)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("first, longer"))
	f.Close()
	if _, err := Create(p, false); !errors.Is(err, ErrExists) {
		t.Fatalf("existing file without replace: %v", err)
	}
	os.Chmod(p, 0o644)
	f, err = Create(p, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("second"))
	f.Close()
	if b, _ := os.ReadFile(p); string(b) != "second" {
		t.Fatalf("replaced file holds %q", b)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("replaced file has mode %04o, want 0600", fi.Mode().Perm())
	}
	if _, err := Create(t.TempDir(), true); err == nil {
		t.Fatal("a directory was accepted")
	}
}

func TestOpenAppendNeverFollowsSymlinks(t *testing.T) {
	link, victim := plantLink(t, "keys.log")
	f, err := OpenAppend(link)
	if err == nil {
		f.Write([]byte("MSSL1 ...\n"))
		f.Close()
	}
	if !errors.Is(err, ErrSymlink) {
		t.Errorf("OpenAppend through a link: %v, want ErrSymlink", err)
	}
	checkVictim(t, victim)

	p := filepath.Join(t.TempDir(), "keys.log")
	for range 2 {
		f, err := OpenAppend(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("line\n"))
		f.Close()
	}
	if b, _ := os.ReadFile(p); string(b) != "line\nline\n" {
		t.Fatalf("log holds %q", b)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Fatalf("log has mode %04o", fi.Mode().Perm())
		}
		os.Chmod(p, 0o640)
		var ie *InsecureError
		if _, err := OpenAppend(p); !errors.As(err, &ie) {
			t.Fatalf("group-readable log: %v, want InsecureError", err)
		}
	}
}

// symlinkUnavailable skips where a test may not make symbolic links
// (Windows without the privilege) and fails anywhere else.
func symlinkUnavailable(t *testing.T, err error) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skipf("symlinks unavailable: %v", err)
	}
	t.Fatalf("symlink: %v", err)
}
