// Package board knows the boards mstool flashes: which avrdude programmer,
// line speed and part each one needs (profiles), the MCUs they carry, and
// which USB serial adapters belong to such boards (port detection).
//
// A profile is data, not code: Resolve turns a profile plus an optional
// MCU choice into the Target that pkg/avrdude builds its command line from.
package board

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MCU describes one supported microcontroller.
type MCU struct {
	Name      string // avr-gcc's -mmcu name, e.g. "atmega328p"
	Part      string // avrdude's -p part id, e.g. "m328p"
	Signature string // device signature bytes, hex, e.g. "1e950f"
	FlashSize int    // bytes
	EEPROM    int    // bytes
	RAM       int    // SRAM bytes (static data, heap and stack)
}

// MCUs mstool's firmware is built for.
var mcus = map[string]MCU{
	"atmega328p": {Name: "atmega328p", Part: "m328p", Signature: "1e950f", FlashSize: 32 << 10, EEPROM: 1024, RAM: 2048},
	"atmega168":  {Name: "atmega168", Part: "m168", Signature: "1e9406", FlashSize: 16 << 10, EEPROM: 512, RAM: 1024},
}

// LookupMCU returns the MCU called name (case-insensitive).
func LookupMCU(name string) (MCU, error) {
	m, ok := mcus[strings.ToLower(name)]
	if !ok {
		return MCU{}, fmt.Errorf("board: unknown MCU %q (supported: %s)", name, strings.Join(MCUNames(), ", "))
	}
	return m, nil
}

// MCUNames lists the supported MCUs, sorted.
func MCUNames() []string {
	var n []string
	for k := range mcus {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Variant is one MCU a board can carry and the bootloader speed that goes
// with it (0 for ISP programmers, which have no serial speed).
type Variant struct {
	MCU  string
	Baud int
}

// Profile is one kind of board or programmer.
type Profile struct {
	Name        string
	Description string
	// Programmer is avrdude's -c programmer id.
	Programmer string
	// Variants are the MCUs the board may carry; the first is the default.
	Variants []Variant
	// ISP: the programmer writes the chip over its ISP header (USB
	// programmer, no bootloader involved): it can write the EEPROM, and
	// its port is "usb" unless given.
	ISP bool
	// AutoReset: opening the serial port resets the board (DTR through a
	// capacitor to RESET), which starts the bootloader. Boards without it
	// (some Pro Minis on bare FTDI cables) need the reset button pressed
	// just before avrdude starts.
	AutoReset bool
}

var profiles = []Profile{
	{Name: "uno", Description: "Arduino Uno (optiboot, 115200 baud)", Programmer: "arduino",
		Variants: []Variant{{"atmega328p", 115200}}, AutoReset: true},
	{Name: "nano", Description: "Arduino Nano with the old bootloader (ATmegaBOOT, 57600 baud)", Programmer: "arduino",
		Variants: []Variant{{"atmega328p", 57600}, {"atmega168", 19200}}, AutoReset: true},
	{Name: "nano-new", Description: "Arduino Nano with the new bootloader (optiboot, 115200 baud)", Programmer: "arduino",
		Variants: []Variant{{"atmega328p", 115200}}, AutoReset: true},
	{Name: "pro-mini", Description: "Arduino Pro / Pro Mini (ATmegaBOOT; 328P at 57600, 168 at 19200 baud)", Programmer: "arduino",
		Variants: []Variant{{"atmega328p", 57600}, {"atmega168", 19200}}, AutoReset: true},
	{Name: "usbasp", Description: "USBasp ISP programmer (writes flash and EEPROM, no bootloader needed)", Programmer: "usbasp",
		Variants: []Variant{{"atmega328p", 0}, {"atmega168", 0}}, ISP: true},
	{Name: "avrispmkii", Description: "Atmel AVRISP mkII ISP programmer (writes flash and EEPROM, no bootloader needed)", Programmer: "avrispmkii",
		Variants: []Variant{{"atmega328p", 0}, {"atmega168", 0}}, ISP: true},
}

// DefaultBoard is the profile used when none is named.
const DefaultBoard = "uno"

// Errors callers can branch on.
var (
	ErrUnknownBoard = errors.New("board: unknown board")
	ErrMCU          = errors.New("board: MCU not available on this board")
)

// Profiles returns every profile, in documentation order.
func Profiles() []Profile { return append([]Profile(nil), profiles...) }

// Names lists the profile names.
func Names() []string {
	n := make([]string, len(profiles))
	for i, p := range profiles {
		n[i] = p.Name
	}
	return n
}

// Lookup returns the profile called name.
func Lookup(name string) (Profile, error) {
	for _, p := range profiles {
		if p.Name == strings.ToLower(name) {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownBoard, name, strings.Join(Names(), ", "))
}

// ispProgrammers are avrdude programmer ids that write the chip over ISP
// (and so can write the EEPROM), as opposed to talking to a bootloader.
var ispProgrammers = map[string]bool{
	"usbasp": true, "usbasp-clone": true, "avrispmkii": true, "avrisp2": true,
	"avrisp": true, "stk500v1": true, "stk500v2": true, "stk500": true,
	"usbtiny": true, "atmelice_isp": true, "dragon_isp": true, "pickit2": true,
	"arduino_as_isp": true, "arduinoisp": true, "arduinoisporg": true,
}

// IsISPProgrammer reports whether an avrdude programmer id programs over
// ISP rather than through a bootloader.
func IsISPProgrammer(id string) bool { return ispProgrammers[strings.ToLower(id)] }

// Target is everything avrdude needs to know about the board, resolved
// from a profile, an MCU choice and overrides.
type Target struct {
	Board      string
	Programmer string
	MCU        MCU
	Baud       int // 0: avrdude's default (ISP programmers)
	// ISP: flash and EEPROM are written over ISP.
	ISP       bool
	AutoReset bool
	// Serial: the programmer talks over a serial port that must be named
	// or detected (false for USB ISP programmers, whose port is "usb").
	Serial bool
}

// Overrides change a profile's choices (zero values change nothing).
type Overrides struct {
	MCU        string
	Programmer string
	Baud       int
}

// Resolve picks the variant for o.MCU (default: the profile's first) and
// applies the overrides.
func (p Profile) Resolve(o Overrides) (Target, error) {
	v := p.Variants[0]
	if o.MCU != "" {
		m, err := LookupMCU(o.MCU)
		if err != nil {
			return Target{}, err
		}
		found := false
		for _, cand := range p.Variants {
			if cand.MCU == m.Name {
				v, found = cand, true
				break
			}
		}
		if !found {
			var can []string
			for _, cand := range p.Variants {
				can = append(can, cand.MCU)
			}
			return Target{}, fmt.Errorf("%w: %s carries %s, not %s", ErrMCU, p.Name, strings.Join(can, " or "), m.Name)
		}
	}
	m, err := LookupMCU(v.MCU)
	if err != nil {
		return Target{}, err
	}
	t := Target{Board: p.Name, Programmer: p.Programmer, MCU: m, Baud: v.Baud, ISP: p.ISP, AutoReset: p.AutoReset, Serial: !p.ISP}
	if o.Programmer != "" && o.Programmer != p.Programmer {
		t.Programmer = o.Programmer
		t.ISP = IsISPProgrammer(o.Programmer)
		// An ISP programmer on a serial line (ArduinoISP, STK500) still
		// needs a port; USB ones do not. Only these are serial.
		switch strings.ToLower(o.Programmer) {
		case "avrisp", "stk500v1", "stk500", "stk500v2", "arduino_as_isp", "arduino", "urclock", "wiring":
			t.Serial = true
		default:
			t.Serial = !t.ISP
		}
		t.AutoReset = t.AutoReset && t.Serial
		if !t.Serial {
			t.Baud = 0 // USB programmers have no line speed
		}
	}
	if o.Baud > 0 {
		t.Baud = o.Baud
	}
	return t, nil
}
