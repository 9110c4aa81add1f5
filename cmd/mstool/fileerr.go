package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mstool/mstool/pkg/keyfile"
)

// fileError turns an error reading or opening the file path into a CLI
// error with the hint for its cause: chmod for a secret that others can
// read, the link for a symbolic link, and hint for any other cause (a
// missing file, say). Callers that create files check keyfile.ErrExists
// first: what to say about an existing file depends on the file.
func fileError(err error, path, hint string) error {
	if r := fileRefusal(err, path); r != nil {
		return r
	}
	return failf(hint, "%v", err)
}

// fileRefusal is fileError's answer when mstool refused the file (a secret
// that others can read, a symbolic link), and nil for any other error. A
// secret can be a file that path names (a key file of a configuration
// file): then both are named.
func fileRefusal(err error, path string) error {
	var ie *keyfile.InsecureError
	switch {
	case errors.As(err, &ie):
		name := path
		if ie.Path != "" && ie.Path != path {
			name = ie.Path + " (named in " + path + ")"
		}
		return failf(ie.Hint(), "refusing to use %s: it is readable by other users (mode %04o)", name, ie.Mode.Perm())
	case errors.Is(err, keyfile.ErrSymlink):
		return symlinkRefused(path)
	}
	return nil
}

// writeError turns an error creating or writing the output file path into
// a CLI error that names path, not the temporary file mstool writes beside
// it first (keyfile.WriteNew), with what to do about a directory that does
// not exist or that the user may not write in. Callers check
// keyfile.ErrExists first.
func writeError(err error, path string) error {
	if r := fileRefusal(err, path); r != nil {
		return r
	}
	cause := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	dir := filepath.Dir(path)
	hint := ""
	switch {
	case errors.Is(err, fs.ErrNotExist) && !dirExists(dir):
		hint = fmt.Sprintf("the directory %s does not exist: create it first, or give another path", dir)
	case errors.Is(err, fs.ErrPermission):
		hint = fmt.Sprintf("you may not create files in %s: give another path", dir)
	}
	return failf(hint, "cannot write %s: %v", path, cause)
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}
