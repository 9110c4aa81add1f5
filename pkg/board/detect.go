//go:build !darwin || cgo

package board

import (
	"fmt"

	"go.bug.st/serial/enumerator"
)

// Detect enumerates the system's serial ports and chooses the board's.
func Detect() (Port, error) {
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return Port{}, fmt.Errorf("board: listing serial ports: %w", err)
	}
	reported := make([]Reported, 0, len(ports))
	for _, p := range ports {
		if p != nil {
			reported = append(reported, Reported{Name: p.Name, IsUSB: p.IsUSB, VID: p.VID, PID: p.PID, SerialNumber: p.SerialNumber})
		}
	}
	return Choose(Candidates(reported))
}
