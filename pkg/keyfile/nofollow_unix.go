//go:build unix

package keyfile

import "golang.org/x/sys/unix"

// oNoFollow makes an open fail on a symbolic link (the last path element).
const oNoFollow = unix.O_NOFOLLOW
