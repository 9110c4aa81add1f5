//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// reraise ends mstool by SIGINT, with its default action restored.
func reraise() {
	signal.Reset(os.Interrupt)
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	time.Sleep(time.Second) // the signal is delivered meanwhile
}
