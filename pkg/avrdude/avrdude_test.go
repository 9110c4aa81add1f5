package avrdude

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/board"
)

func target(t *testing.T, name string, o board.Overrides) board.Target {
	t.Helper()
	p, err := board.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := p.Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{"uno", Job{Target: target(t, "uno", board.Overrides{}), Port: "/dev/ttyACM0", Flash: "fw.hex"},
			"-c arduino -p m328p -P /dev/ttyACM0 -b 115200 -U flash:w:fw.hex:i"},
		{"nano old bootloader", Job{Target: target(t, "nano", board.Overrides{}), Port: "/dev/ttyUSB0", Flash: "fw.hex"},
			"-c arduino -p m328p -P /dev/ttyUSB0 -b 57600 -U flash:w:fw.hex:i"},
		{"pro-mini 168", Job{Target: target(t, "pro-mini", board.Overrides{MCU: "atmega168"}), Port: "/dev/ttyUSB0", Flash: "fw.hex", NoVerify: true},
			"-c arduino -p m168 -P /dev/ttyUSB0 -b 19200 -V -U flash:w:fw.hex:i"},
		{"usbasp flash and eeprom", Job{Target: target(t, "usbasp", board.Overrides{MCU: "atmega168"}), Flash: "fw.hex", EEPROM: "ee.hex"},
			"-c usbasp -p m168 -P usb -U flash:w:fw.hex:i -U eeprom:w:ee.hex:i"},
		{"avrispmkii eeprom only", Job{Target: target(t, "avrispmkii", board.Overrides{}), EEPROM: "ee.hex"},
			"-c avrispmkii -p m328p -P usb -U eeprom:w:ee.hex:i"},
		{"overrides", Job{Target: target(t, "uno", board.Overrides{Programmer: "stk500v1", Baud: 19200}), Port: "/dev/ttyUSB1", Flash: "fw.hex", SyncAttempts: 2, Verbose: true},
			"-c stk500v1 -p m328p -P /dev/ttyUSB1 -b 19200 -x attempts=2 -v -U flash:w:fw.hex:i"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.job.Args(), " "); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := CommandLine([]string{"avrdude", "-U", "flash:w:/tmp/my fw.hex:i", "-P", "/dev/ttyUSB0", "it's"})
	want := `avrdude -U 'flash:w:/tmp/my fw.hex:i' -P /dev/ttyUSB0 'it'\''s'`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"  -?   Display this usage\n\navrdude version 7.1, URL: <https://github.com/avrdudes/avrdude>\n": "7.1",
		"avrdude version 6.3, URL: <http://savannah.nongnu.org/projects/avrdude/>":                       "6.3",
		"avrdude: Version 7.1\n         Copyright the AVRDUDE authors;":                                  "7.1",
		"Avrdude version 8.0-20240927 (a0b5c2f8)\nCopyright see https://github.com/avrdudes/avrdude":     "8.0",
		"something else": "",
	} {
		if got := ParseVersion(in); got != want {
			t.Errorf("ParseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		file     string
		kind     error
		msg      string
		got, res string
	}{
		{"7.1-signature.txt", ErrSignature, "the chip answered 1e950f, ATmega168 is 1e9406", "1e950f", ""},
		{"8.0-signature.txt", ErrSignature, "the chip answered 1e950f, ATmega168 is 1e9406", "1e950f", ""},
		{"7.1-not-responding.txt", ErrNotResponding, "not responding", "", ""},
		{"6.3-not-responding.txt", ErrNotResponding, "not responding", "", ""},
		{"8.0-not-responding.txt", ErrNotResponding, "not responding", "", ""},
		{"6.3-not-in-sync.txt", ErrNotInSync, "it sent 0x30 instead of STK_INSYNC", "", "0x30"},
		{"7.1-no-port.txt", ErrPortNotFound, "serial port /dev/ttyUSB9 does not exist", "", ""},
		{"7.1-usbasp-missing.txt", ErrProgrammerNotFound, "USB programmer not found", "", ""},
		{"6.3-permission.txt", ErrPermission, "permission denied on serial port /dev/ttyUSB0", "", ""},
		{"8.0-permission.txt", ErrPermission, "permission denied on serial port /dev/ttyUSB0", "", ""},
		{"7.1-verify-mismatch.txt", ErrVerify, "first difference at byte 0x0002: read 0xff, expected 0x5c", "0xff", ""},
		{"6.3-verify-mismatch.txt", ErrVerify, "first difference at byte 0x0002: read 0xff, expected 0x5c", "0xff", ""},
		{"7.3-verify-mismatch.txt", ErrVerify, "first difference at byte 0x0002: read 0xff, expected 0x5c", "0xff", ""},
	}
	for _, tt := range tests {
		e := Classify(sample(t, tt.file))
		if !errors.Is(e, tt.kind) {
			t.Errorf("%s: classified as %v (%s), want %v", tt.file, sentinels[e.Kind], e.Msg, tt.kind)
			continue
		}
		if !strings.Contains(e.Error(), tt.msg) {
			t.Errorf("%s: message %q does not contain %q", tt.file, e.Error(), tt.msg)
		}
		if tt.got != "" && e.Got != tt.got {
			t.Errorf("%s: Got = %q, want %q", tt.file, e.Got, tt.got)
		}
		if e.Resp != tt.res {
			t.Errorf("%s: Resp = %q, want %q", tt.file, e.Resp, tt.res)
		}
		if e.Hint() == "" {
			t.Errorf("%s: no hint", tt.file)
		}
	}
	// Anything unknown keeps avrdude's last error line.
	e := Classify("avrdude error: something new went wrong\n\navrdude done.  Thank you.\n")
	if e.Kind != Failed || !strings.Contains(e.Msg, "something new went wrong") {
		t.Errorf("unknown failure: %+v", e)
	}
}

// The progress parser on a real 7.1 run and an 8.x-format run: events
// rise to 100 % for the write and for the verification read-back, and
// the summary fields are found.
func TestParserProgress(t *testing.T) {
	for _, tt := range []struct {
		file string
		sig  string
		n    int
	}{
		{"7.1-success.txt", "1e950f", 23734},
		{"8.0-success.txt", "", 0},
	} {
		var evs []Event
		p := newParser(func(e Event) { evs = append(evs, e) })
		// Feed in odd-sized chunks, as a pipe delivers them.
		b := []byte(sample(t, tt.file))
		for len(b) > 0 {
			n := min(7, len(b))
			p.feed(b[:n])
			b = b[n:]
		}
		p.flush()
		last := map[string]int{}
		for i, e := range evs {
			if i > 0 && evs[i-1].Op == e.Op && e.Percent < evs[i-1].Percent {
				t.Errorf("%s: progress went backwards: %v after %v", tt.file, e, evs[i-1])
			}
			last[e.Op] = e.Percent
		}
		if want := map[string]int{"write": 100, "read": 100}; !reflect.DeepEqual(last, want) {
			t.Errorf("%s: final progress %v, want %v", tt.file, last, want)
		}
		if !p.verified || p.signature != tt.sig || p.written["flash"] != tt.n {
			t.Errorf("%s: verified=%v signature=%q written=%v", tt.file, p.verified, p.signature, p.written)
		}
		if tt.n > 0 && evs[len(evs)-1].Memory != "flash" {
			t.Errorf("%s: memory of the read-back not found: %+v", tt.file, evs[len(evs)-1])
		}
	}
}

func TestFindMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(Env, "")
	if _, err := Find(""); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Find with empty PATH: %v", err)
	}
	if _, err := Find(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Find with a missing explicit path: %v", err)
	}
}
