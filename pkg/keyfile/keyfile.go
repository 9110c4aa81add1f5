// Package keyfile writes and reads secret files the way key material must
// be handled: created atomically with mode 0600 and never over an existing
// file, and refused on read when other users could read them.
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrExists is returned (wrapped) when the target file already exists.
// Key files are never overwritten silently.
var ErrExists = errors.New("keyfile: file already exists")

// InsecureError reports a secret file that group or other users can read.
type InsecureError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureError) Error() string {
	return fmt.Sprintf("keyfile: %s is readable by other users (mode %04o)", e.Path, e.Mode.Perm())
}

// Hint tells the user how to fix the file.
func (e *InsecureError) Hint() string {
	return fmt.Sprintf("a private key must be readable only by its owner: chmod 600 %s", e.Path)
}

// WriteNew creates path holding data with permissions perm. It never
// replaces an existing file (the error wraps ErrExists) and never leaves a
// partial file behind: the data is written to a temporary file in the same
// directory, synced, and then linked into place, which fails atomically if
// the name is taken. On file systems without hard links (FAT, exFAT, some
// network shares) the name is reserved by an exclusive create and the
// temporary file renamed over that empty placeholder: a crash leaves path
// empty or whole, never holding part of data.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".mstool-*.tmp")
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// CreateTemp makes the file 0600 already; Chmod sets the requested mode
	// before any byte is written.
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("keyfile: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	if err := link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		// File systems without hard links.
		if err := renameIntoPlaceholder(tmpName, path, perm); err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// link and rename are os.Link and os.Rename, replaced by tests.
var (
	link   = os.Link
	rename = os.Rename
)

// renameIntoPlaceholder takes path with an exclusive create (which refuses
// an existing file or symbolic link) and renames the complete file tmp
// over that empty placeholder.
func renameIntoPlaceholder(tmp, path string, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("keyfile: %w", err)
	}
	f.Close()
	if err := rename(tmp, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ReadPrivate reads a secret file, refusing it with *InsecureError when
// group or other users have any access to it (on systems with Unix
// permissions).
func ReadPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keyfile: %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureError{Path: path, Mode: fi.Mode()}
	}
	const maxSecretFile = 1 << 20 // key files are small; refuse anything absurd
	if fi.Size() > maxSecretFile {
		return nil, fmt.Errorf("keyfile: %s is too large to be a key file (%d bytes)", path, fi.Size())
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("keyfile: reading %s: %w", path, err)
	}
	return data, nil
}
