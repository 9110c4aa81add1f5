package bootstrap

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Controller key files: one line per controller, '#' comments, so that
// the server's file is the concatenation of its controllers' files:
//
//	controller 0x00000001 000102030405060708090a0b0c0d0e0f

// FormatController is a controller's key file (secret: mode 0600).
func FormatController(c Controller) []byte {
	return fmt.Appendf(nil, "# mstool bootstrap controller key (SK_cs); secret: keep it private (mode 0600)\ncontroller 0x%08x %x\n", c.ID, c.SKcs[:])
}

// ParseControllers reads a controller key file of any number of lines.
func ParseControllers(data []byte) ([]Controller, error) {
	var out []Controller
	seen := map[uint32]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 || f[0] != "controller" {
			return nil, fmt.Errorf("bootstrap: controllers line %d: want 'controller ID KEY'", line)
		}
		id, err := strconv.ParseUint(f[1], 0, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("bootstrap: controllers line %d: bad controller id %q", line, f[1])
		}
		c := Controller{ID: uint32(id)}
		if err := parseKey(f[2], &c.SKcs); err != nil {
			return nil, fmt.Errorf("bootstrap: controllers line %d: %v", line, err)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("bootstrap: controllers line %d: controller 0x%08x given twice", line, c.ID)
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bootstrap: controllers: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("bootstrap: controllers: no controller in the file")
	}
	return out, nil
}

// DeviceFileMagic starts an enrolled device's secret file.
const DeviceFileMagic = "mstool-bootstrap-device v1"

// Enrolled is what enrolment puts into one device: its id, IK and RN_i
// (the bootstrap area is EnrolArea(IK, RNi)).
type Enrolled struct {
	Device uint32
	IK     [KeySize]byte
	RNi    [RNSize]byte
}

// Marshal is the device file (secret: mode 0600).
func (e *Enrolled) Marshal() []byte {
	return fmt.Appendf(nil, "%s\n# secret: the device's initial key; keep it private (mode 0600)\ndevice-id: 0x%08x\nik: %x\nrn-i: %x\n", DeviceFileMagic, e.Device, e.IK[:], e.RNi[:])
}

// Label is the device's label.
func (e *Enrolled) Label() Label { return Label{Device: e.Device, RNi: e.RNi} }

// ParseEnrolled reads a device file.
func ParseEnrolled(data []byte) (*Enrolled, error) {
	e := &Enrolled{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	header := false
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !header {
			if text != DeviceFileMagic {
				return nil, fmt.Errorf("bootstrap: not a bootstrap device file (want %q first)", DeviceFileMagic)
			}
			header = true
			continue
		}
		name, value, ok := strings.Cut(text, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || seen[name] {
			return nil, fmt.Errorf("bootstrap: device file: bad or repeated line %q", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "device-id":
			var id uint64
			id, err = strconv.ParseUint(value, 0, 32)
			if err == nil && id == 0 {
				err = errors.New("id 0 is reserved")
			}
			e.Device = uint32(id)
		case "ik":
			err = parseKey(value, &e.IK)
		case "rn-i":
			var b []byte
			b, err = hex.DecodeString(value)
			if err == nil && len(b) != RNSize {
				err = errors.New("want 16 bytes of hex")
			}
			copy(e.RNi[:], b)
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return nil, fmt.Errorf("bootstrap: device file: %s: %v", name, err)
		}
	}
	if !header || len(seen) != 3 {
		return nil, errors.New("bootstrap: device file: want device-id, ik and rn-i")
	}
	return e, nil
}
