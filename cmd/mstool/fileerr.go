package main

import (
	"errors"

	"github.com/mstool/mstool/pkg/keyfile"
)

// fileError turns an error reading or opening the file path into a CLI
// error with the hint for its cause: chmod for a secret that others can
// read, the link for a symbolic link, and hint for any other cause (a
// missing file, say). Callers that create files check keyfile.ErrExists
// first: what to say about an existing file depends on the file.
func fileError(err error, path, hint string) error {
	var ie *keyfile.InsecureError
	switch {
	case errors.As(err, &ie):
		return failf(ie.Hint(), "refusing to use %s: it is readable by other users (mode %04o)", path, ie.Mode.Perm())
	case errors.Is(err, keyfile.ErrSymlink):
		return symlinkRefused(path)
	}
	return failf(hint, "%v", err)
}
