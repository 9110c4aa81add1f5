package avrdude

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Kind classifies an avrdude failure by what the user must do about it.
type Kind int

// Failure kinds.
const (
	Failed             Kind = iota // anything else
	NotInstalled                   // avrdude is not installed
	PortNotFound                   // the serial port does not exist
	Permission                     // no permission to open the port
	PortBusy                       // another program has the port
	ProgrammerNotFound             // the USB ISP programmer is not plugged in
	NotResponding                  // silence: no bootloader answering
	NotInSync                      // an answer, but not STK500's
	Signature                      // the chip is not the expected part
	Verify                         // read-back differs from the image
)

// Sentinels for errors.Is; an *Error matches the one of its Kind.
var (
	ErrFailed             = errors.New("avrdude: failed")
	ErrNotInstalled       = errors.New("avrdude: not installed")
	ErrPortNotFound       = errors.New("avrdude: serial port not found")
	ErrPermission         = errors.New("avrdude: permission denied on the serial port")
	ErrPortBusy           = errors.New("avrdude: serial port busy")
	ErrProgrammerNotFound = errors.New("avrdude: USB programmer not found")
	ErrNotResponding      = errors.New("avrdude: bootloader not responding")
	ErrNotInSync          = errors.New("avrdude: bootloader not in sync")
	ErrSignature          = errors.New("avrdude: device signature mismatch")
	ErrVerify             = errors.New("avrdude: verification mismatch")
)

var sentinels = map[Kind]error{
	Failed: ErrFailed, NotInstalled: ErrNotInstalled, PortNotFound: ErrPortNotFound,
	Permission: ErrPermission, PortBusy: ErrPortBusy, ProgrammerNotFound: ErrProgrammerNotFound,
	NotResponding: ErrNotResponding, NotInSync: ErrNotInSync, Signature: ErrSignature, Verify: ErrVerify,
}

// Error is a classified avrdude failure.
type Error struct {
	Kind Kind
	// Msg is the explanation; Line is avrdude's own line that decided it.
	Msg, Line string
	// Got and Want are device signatures (Signature), or the first
	// differing bytes (Verify), when avrdude printed them.
	Got, Want string
	// Resp is the byte a not-in-sync bootloader answered ("0x30").
	Resp     string
	Argv     []string
	ExitCode int
	Log      string
}

func (e *Error) Error() string { return "avrdude: " + e.Msg }

// Is matches the sentinel of the error's Kind.
func (e *Error) Is(target error) bool { return sentinels[e.Kind] == target }

// Hint says what to do about it, in one line.
func (e *Error) Hint() string {
	switch e.Kind {
	case NotInstalled:
		return "install avrdude (Debian/Ubuntu: sudo apt-get install avrdude; Fedora: sudo dnf install avrdude; macOS: brew install avrdude), or point MSTOOL_AVRDUDE at it"
	case Permission:
		return "add yourself to the dialout group (sudo usermod -aG dialout $USER), then log out and back in"
	case PortNotFound:
		return "check the cable and the port name; without --port, mstool flash lists the boards it can see"
	case PortBusy:
		return "close the program that has the port open (serial monitor, mstool esp shell, ModemManager) and try again"
	case ProgrammerNotFound:
		return "plug in the ISP programmer; if it is plugged in, your user may lack permission on its USB device (udev rules)"
	case NotResponding, NotInSync:
		return "wrong board profile or baud rate (old-bootloader Nano: --board nano), or the bootloader is not running: press the board's reset button just as flashing starts"
	case Signature:
		return "the chip is not the part the board profile names: choose the right --board/--mcu and firmware built for that MCU"
	case Verify:
		return "flash again; if it persists, the chip's flash may be worn, its lock bits set, or the image may overlap the bootloader"
	}
	return "run with --verbose to see avrdude's own output"
}

var (
	expectRe = regexp.MustCompile(`(?i)expected signature for (\S+) is ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})`)
	respRe   = regexp.MustCompile(`(?i)not in sync: resp=(0x[0-9a-f]{2})`)
	portRe   = regexp.MustCompile(`(?i)(?:cannot open port|can't open device) "?([^":]+)"?:`)
	mismRe   = regexp.MustCompile(`(?i)first mismatch at byte (0x[0-9a-f]+)`)
	bytesRe  = regexp.MustCompile(`(?i)^\s*(0x[0-9a-f]{2}) != (0x[0-9a-f]{2})\s*$`)
	errRe    = regexp.MustCompile(`(?i)^avrdude[^:]*?(?:error|OS error)?:`)
)

// Classify reads avrdude's complete output after a failed run and decides
// what went wrong. It looks at message text, not prefixes, so that the
// formats of avrdude 6.x, 7.x and 8.x all classify the same way.
func Classify(log string) *Error {
	lines := strings.Split(strings.ReplaceAll(log, "\r", "\n"), "\n")
	has := func(subs ...string) (string, bool) {
		for _, l := range lines {
			ll := strings.ToLower(l)
			ok := true
			for _, s := range subs {
				if !strings.Contains(ll, s) {
					ok = false
					break
				}
			}
			if ok {
				return strings.TrimSpace(l), true
			}
		}
		return "", false
	}
	port := ""
	if m := portRe.FindStringSubmatch(log); m != nil {
		port = m[1]
	}
	onPort := func(s string) string {
		if port != "" {
			return s + " " + port
		}
		return s
	}
	if l, ok := has("permission denied"); ok {
		return &Error{Kind: Permission, Msg: onPort("permission denied on serial port"), Line: l, Log: log}
	}
	if l, ok := has("device or resource busy"); ok {
		return &Error{Kind: PortBusy, Msg: onPort("serial port busy:"), Line: l, Log: log}
	}
	for _, k := range []string{"cannot find usb device", "did not find any usb device", "could not find usb device", "usb device not found", "no usb device"} {
		if l, ok := has(k); ok {
			return &Error{Kind: ProgrammerNotFound, Msg: "USB programmer not found", Line: l, Log: log}
		}
	}
	if l, ok := has("no such file or directory"); ok && port != "" {
		return &Error{Kind: PortNotFound, Msg: "serial port " + port + " does not exist", Line: l, Log: log}
	}
	if m := expectRe.FindStringSubmatch(log); m != nil {
		e := &Error{Kind: Signature, Line: strings.TrimSpace(m[0]), Want: strings.ToLower(m[2] + m[3] + m[4]), Log: log}
		e.Got = parseSig(log)
		e.Msg = fmt.Sprintf("device signature mismatch: the chip answered %s, %s is %s", orUnknown(e.Got), m[1], e.Want)
		return e
	}
	if l, ok := has("invalid device signature"); ok {
		e := &Error{Kind: Signature, Line: l, Log: log}
		e.Got = parseSig(log)
		e.Msg = fmt.Sprintf("invalid device signature %s: the chip does not answer properly (wiring, power or clock)", orUnknown(e.Got))
		return e
	}
	for _, k := range []string{"verification mismatch", "verification error", "content mismatch"} {
		if l, ok := has(k); ok {
			e := &Error{Kind: Verify, Line: l, Log: log, Msg: "verification mismatch: what the chip holds differs from the image"}
			if m := mismRe.FindStringSubmatch(log); m != nil {
				e.Msg += " (first difference at byte " + m[1]
				for _, l := range lines {
					if b := bytesRe.FindStringSubmatch(l); b != nil {
						e.Got, e.Want = b[2], b[1]
						e.Msg += fmt.Sprintf(": read %s, expected %s", b[2], b[1])
						break
					}
				}
				e.Msg += ")"
			}
			return e
		}
	}
	if l, ok := has("not in sync"); ok {
		// avrdude asks ten times; a silent line gives resp=0x00 each time.
		silent := true
		resp := ""
		for _, m := range respRe.FindAllStringSubmatch(log, -1) {
			if strings.ToLower(m[1]) != "0x00" {
				silent = false
				resp = m[1]
			}
		}
		if _, nr := has("not responding"); nr && silent {
			return &Error{Kind: NotResponding, Msg: "the board's bootloader is not responding (no answer to STK500 sync)", Line: l, Log: log}
		}
		e := &Error{Kind: NotInSync, Resp: resp, Line: l, Log: log, Msg: "the board answered, but not in sync with avrdude"}
		if resp != "" {
			e.Msg += " (it sent " + resp + " instead of STK_INSYNC 0x14)"
		}
		return e
	}
	if l, ok := has("not responding"); ok {
		return &Error{Kind: NotResponding, Msg: "the programmer or bootloader is not responding", Line: l, Log: log}
	}
	if l, ok := has("no such file or directory"); ok {
		return &Error{Kind: Failed, Msg: "a file was not found: " + l, Line: l, Log: log}
	}
	// The last error line says most.
	last := ""
	for _, l := range lines {
		if errRe.MatchString(l) && !strings.Contains(strings.ToLower(l), "unable to open programmer") {
			last = strings.TrimSpace(l)
		}
	}
	if last == "" {
		for i := len(lines) - 1; i >= 0; i-- {
			if s := strings.TrimSpace(lines[i]); s != "" && !strings.Contains(strings.ToLower(s), "thank you") {
				last = s
				break
			}
		}
	}
	return &Error{Kind: Failed, Msg: "failed: " + orUnknown(last), Line: last, Log: log}
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
