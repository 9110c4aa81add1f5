//go:build darwin && !cgo

package board

import "errors"

// Detect is unavailable in macOS builds without cgo: listing USB serial
// ports there needs IOKit. The user gives --port instead.
func Detect() (Port, error) {
	return Port{}, errors.New("board: automatic port detection is not available in this macOS build; give --port (ls /dev/cu.*)")
}
