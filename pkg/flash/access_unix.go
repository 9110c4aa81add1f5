//go:build unix

package flash

import "golang.org/x/sys/unix"

// canReadWrite reports whether this user may open path for reading and
// writing, without opening it (opening a serial port resets an Arduino).
func canReadWrite(path string) error { return unix.Access(path, unix.R_OK|unix.W_OK) }
