//go:build !unix

package flash

// canReadWrite cannot be checked without opening the port here; avrdude
// reports a permission problem itself.
func canReadWrite(path string) error { return nil }
