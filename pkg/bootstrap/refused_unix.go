//go:build unix

package bootstrap

import "syscall"

var errConnRefused error = syscall.ECONNREFUSED
