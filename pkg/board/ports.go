package board

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// USBID names a USB serial adapter found on AVR boards.
type USBID struct {
	VID, PID string // lowercase hex; PID "*" matches any product of VID
	Name     string
}

// KnownUSB is the table of adapters that port detection picks on its
// own. Anything else is never selected (or opened) automatically.
var KnownUSB = []USBID{
	{"2341", "*", "Arduino (genuine, Arduino LLC)"},
	{"2a03", "*", "Arduino (genuine, Arduino SRL)"},
	{"1a86", "7523", "CH340 USB serial (Nano/Uno clones)"},
	{"0403", "6001", "FTDI FT232R (Nano, Pro Mini cables)"},
	{"0403", "6015", "FTDI FT231X"},
	{"10c4", "ea60", "Silicon Labs CP210x"},
}

// MatchUSB returns the KnownUSB entry for vid:pid, if any.
func MatchUSB(vid, pid string) (USBID, bool) {
	vid, pid = strings.ToLower(vid), strings.ToLower(pid)
	for _, k := range KnownUSB {
		if k.VID == vid && (k.PID == "*" || k.PID == pid) {
			return k, true
		}
	}
	return USBID{}, false
}

// Port is a serial port that port detection considered.
type Port struct {
	Name    string `json:"port"`
	VID     string `json:"vid,omitempty"`
	PID     string `json:"pid,omitempty"`
	Serial  string `json:"serial_number,omitempty"`
	Adapter string `json:"adapter,omitempty"` // KnownUSB name; empty if unknown
}

// Errors of port detection.
var (
	// ErrNoPort: no serial port belongs to a known board.
	ErrNoPort = errors.New("board: no serial port of a known board found")
	// ErrManyPorts: several candidates; the caller must choose (--port).
	ErrManyPorts = errors.New("board: several boards found")
)

// ManyPortsError lists the candidates when the choice is ambiguous.
type ManyPortsError struct{ Candidates []Port }

func (e *ManyPortsError) Error() string {
	names := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		names[i] = c.Name
	}
	return fmt.Sprintf("%v: %s", ErrManyPorts, strings.Join(names, ", "))
}

func (e *ManyPortsError) Unwrap() error { return ErrManyPorts }

// Reported is what the operating system says about one serial port.
type Reported struct {
	Name         string
	IsUSB        bool
	VID, PID     string
	SerialNumber string
}

// Candidates keeps the ports whose USB VID:PID is in KnownUSB, sorted by
// name. It only looks at what the operating system reports about each
// port (sysfs on Linux); it never opens or probes a port.
func Candidates(ports []Reported) []Port {
	var out []Port
	for _, p := range ports {
		if !p.IsUSB {
			continue
		}
		k, ok := MatchUSB(p.VID, p.PID)
		if !ok {
			continue
		}
		out = append(out, Port{Name: p.Name, VID: strings.ToLower(p.VID), PID: strings.ToLower(p.PID), Serial: p.SerialNumber, Adapter: k.Name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Choose returns the only candidate, ErrNoPort, or a *ManyPortsError.
func Choose(c []Port) (Port, error) {
	switch len(c) {
	case 0:
		return Port{}, ErrNoPort
	case 1:
		return c[0], nil
	}
	return Port{}, &ManyPortsError{Candidates: c}
}
