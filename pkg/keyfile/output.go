package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// ErrSymlink is returned (wrapped) when the file to be written is a
// symbolic link. Secret and output files are never written through one: a
// link planted where the file goes would send the data to, or truncate,
// whatever it points to.
var ErrSymlink = errors.New("is a symbolic link")

// Create opens path for writing a secret or output file that is streamed
// rather than written at once (a recording, a capture). The file is
// created with mode 0600 and is never opened through a symbolic link
// (O_NOFOLLOW), not even a dangling one. Without replace anything at path
// is refused with ErrExists. With replace an existing regular file is
// truncated and made 0600, a symbolic link is refused with ErrSymlink, and
// so is anything else that is not a regular file.
func Create(path string, replace bool) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case !replace:
			return nil, fmt.Errorf("%w: %s", ErrExists, path)
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, symlinkError(path)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("keyfile: %s is not a regular file", path)
		}
	}
	flag := os.O_WRONLY | os.O_CREATE | oNoFollow
	if !replace {
		flag |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExists, path)
		}
		return nil, openError(path, err)
	}
	if replace {
		if err := makePrivateRegular(f, path); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("keyfile: %w", err)
		}
	}
	return f, nil
}

// OpenAppend opens the secret log at path for appending (a key log). It
// is created with mode 0600 and never opened through a symbolic link
// (ErrSymlink); an existing file that is not a regular file is refused,
// and one that group or other users can access with *InsecureError.
func OpenAppend(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, symlinkError(path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return nil, openError(path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("keyfile: %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		f.Close()
		return nil, &InsecureError{Path: path, Mode: fi.Mode()}
	}
	return f, nil
}

func symlinkError(path string) error { return fmt.Errorf("keyfile: %s %w", path, ErrSymlink) }

// openError reports a failed open. A symbolic link found at path then
// (O_NOFOLLOW's ELOOP, or a link swapped in after the caller's check) is
// named as such.
func openError(path string, err error) error {
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return symlinkError(path)
	}
	return fmt.Errorf("keyfile: %w", err)
}

// makePrivateRegular checks that the open file is a regular file and
// takes group and other access away from it.
func makePrivateRegular(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("keyfile: %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("keyfile: %w", err)
		}
	}
	return nil
}
