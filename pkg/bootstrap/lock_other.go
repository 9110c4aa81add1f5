//go:build !unix

package bootstrap

// lockFile is a no-op where flock is not available: the in-process mutex
// still serialises one server's writes.
func lockFile(string) (func(), error) { return func() {}, nil }
