//go:build unix

package shell

import "syscall"

// raise sends sig to this process.
func raise(sig syscall.Signal) { syscall.Kill(syscall.Getpid(), sig) }
