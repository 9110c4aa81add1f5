//go:build !unix

package device

import (
	"errors"
	"io"
)

var errLocked = errors.New("locked by another process")

// lockPort does nothing where flock does not exist; the serial library's
// own exclusive open applies.
func lockPort(path string) (io.Closer, error) { return nil, nil }
