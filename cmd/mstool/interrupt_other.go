//go:build !unix

package main

// reraise: without kill(2), main exits with the command's status.
func reraise() {}
