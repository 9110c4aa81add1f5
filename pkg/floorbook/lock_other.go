//go:build !unix

package floorbook

// lock is a no-op where flock does not exist: the rename keeps each
// record whole; two concurrent raises may lose one of them.
func lock(path string) (func(), error) { return func() {}, nil }
