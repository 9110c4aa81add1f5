// Package avrdude runs the avrdude programmer: it finds the binary, builds
// the exact command line for a board target, runs it, turns its progress
// bars into events and its failures into typed errors that say what to do.
//
// avrdude's messages changed across versions; the parser keys on the
// message text, not on the prefix, and is tested against captured output
// of Debian 12's avrdude 7.1 and against the formats of 6.3, 7.2/7.3 and
// 8.x (testdata/):
//
//	6.3:  "avrdude: stk500_recv(): programmer is not responding"
//	7.1:  "avrdude error: programmer is not responding"
//	7.2+: "avrdude stk500_recv() error: programmer is not responding"
//
// The package never prints; avrdude's own output is available to the
// caller (Options.Output, Result.Log, Error.Log).
package avrdude

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mstool/mstool/pkg/board"
)

// Env names the environment variable that selects the avrdude binary.
const Env = "MSTOOL_AVRDUDE"

// Find returns the avrdude to run: explicit if set, else $MSTOOL_AVRDUDE,
// else avrdude on PATH. A missing binary is an *Error of kind NotInstalled.
func Find(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(Env)
	}
	if explicit != "" {
		if st, err := os.Stat(explicit); err != nil || st.IsDir() {
			return "", &Error{Kind: NotInstalled, Msg: fmt.Sprintf("avrdude not found at %s", explicit)}
		}
		return explicit, nil
	}
	p, err := exec.LookPath("avrdude")
	if err != nil {
		return "", &Error{Kind: NotInstalled, Msg: "avrdude not found on PATH"}
	}
	return p, nil
}

var versionRe = regexp.MustCompile(`(?i)avrdude:?\s+version\s+(\d+\.\d+(?:\.\d+)?)`)

// ParseVersion finds avrdude's version in its banner or usage text:
// "avrdude version 7.1, URL: <...>" (usage, 6.x to 8.x) or
// "avrdude: Version 7.1" (the -v banner of 7.x and older) or
// "Avrdude version 8.0-20240927 ..." (the -v banner of 8.x).
func ParseVersion(out string) string {
	m := versionRe.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// Version runs avrdude -? (which prints the version last, on every
// version since 6.x) and returns e.g. "7.1"; "" if it cannot tell.
func Version(ctx context.Context, path string) string {
	out, _ := exec.CommandContext(ctx, path, "-?").CombinedOutput()
	return ParseVersion(string(out))
}

// Job is one avrdude invocation.
type Job struct {
	Target board.Target
	// Port: the serial port, or "" for USB programmers (avrdude's "usb").
	Port string
	// Flash and EEPROM are Intel HEX files to write ("" to skip).
	Flash, EEPROM string
	// NoVerify skips avrdude's read-back verification (-V).
	NoVerify bool
	// Verbose adds -v to avrdude's own output.
	Verbose bool
	// SyncAttempts, when > 0, sets how often avrdude tries to sync with a
	// bootloader (-x attempts=N, arduino/stk500 programmers; avrdude's
	// default is 10, about 5 s each when nothing answers).
	SyncAttempts int
}

// Args is avrdude's argument list for j (without the program name).
func (j Job) Args() []string {
	a := []string{"-c", j.Target.Programmer, "-p", j.Target.MCU.Part}
	switch {
	case j.Port != "":
		a = append(a, "-P", j.Port)
	case !j.Target.Serial:
		a = append(a, "-P", "usb")
	}
	if j.Target.Baud > 0 {
		a = append(a, "-b", strconv.Itoa(j.Target.Baud))
	}
	if j.SyncAttempts > 0 {
		a = append(a, "-x", "attempts="+strconv.Itoa(j.SyncAttempts))
	}
	if j.NoVerify {
		a = append(a, "-V")
	}
	if j.Verbose {
		a = append(a, "-v")
	}
	if j.Flash != "" {
		a = append(a, "-U", "flash:w:"+uFile(j.Flash)+":i")
	}
	if j.EEPROM != "" {
		a = append(a, "-U", "eeprom:w:"+uFile(j.EEPROM)+":i")
	}
	return a
}

// uFile protects a file name inside -U memory:op:file:format: avrdude
// splits at the last colon for the format, so a file name with colons is
// fine as long as the format is given; Windows drive letters too.
func uFile(s string) string { return s }

// CommandLine renders argv as a POSIX shell command a user can paste.
func CommandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, s := range argv {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Event is one step of avrdude's progress.
type Event struct {
	// Op is "write", "read" (verification read-back or reading memory) or
	// "erase".
	Op string `json:"op"`
	// Memory is "flash" or "eeprom" when avrdude said which, else "".
	Memory string `json:"memory,omitempty"`
	// Percent is 0..100.
	Percent int `json:"percent"`
}

// Options for Run.
type Options struct {
	// Progress receives events as avrdude prints them (may be nil).
	Progress func(Event)
	// Output receives avrdude's stdout and stderr verbatim (may be nil).
	Output io.Writer
	// Env replaces the environment (nil: inherit).
	Env []string
}

// Result of a successful run.
type Result struct {
	Argv []string
	// Signature is the device signature avrdude read, hex ("1e950f").
	Signature    string
	FlashBytes   int
	EEPROMBytes  int
	Verified     bool
	Log          string
	VersionFound string
}

// Run executes avrdude at path for job j.
func Run(ctx context.Context, path string, j Job, o Options) (*Result, error) {
	argv := append([]string{path}, j.Args()...)
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Env = o.Env
	p := newParser(o.Progress)
	var log bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		log.Write(b)
		if o.Output != nil {
			o.Output.Write(b)
		}
		p.feed(b)
		return len(b), nil
	})
	cmd.Stdout = w
	cmd.Stderr = w
	err := cmd.Run()
	p.flush()
	res := &Result{Argv: argv, Log: log.String(), Signature: p.signature, FlashBytes: p.written["flash"],
		EEPROMBytes: p.written["eeprom"], Verified: p.verified && !j.NoVerify, VersionFound: ParseVersion(log.String())}
	if err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("avrdude: %w", ctx.Err())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				return res, &Error{Kind: NotInstalled, Msg: err.Error(), Argv: argv}
			}
			return res, fmt.Errorf("avrdude: %w", err)
		}
		e := Classify(res.Log)
		e.Argv, e.ExitCode = argv, ee.ExitCode()
		return res, e
	}
	return res, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// parser follows avrdude's output as it streams. Without a terminal
// avrdude draws a progress bar as "Writing | " followed by one '#' per 2 %,
// then " | 100% 0.81s" (" 0.81 s" in 8.x) and a newline.
type parser struct {
	progress  func(Event)
	line      []byte
	inBar     bool
	barOp     string
	hashes    int
	memory    string
	signature string
	written   map[string]int
	verified  bool
}

func newParser(f func(Event)) *parser {
	return &parser{progress: f, written: map[string]int{}}
}

var (
	// "device signature = 0x1e950f (probably m328p)" (to 7.x),
	// "Device signature = 1E 95 0F (ATmega328P, ...)" (8.x).
	sigRe      = regexp.MustCompile(`(?i)device signature = (?:0x([0-9a-f]{6})|([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}))`)
	writingRe  = regexp.MustCompile(`(?i)\bwriting (?:(\d+) bytes )?(?:to )?(flash|eeprom)\b`)
	writtenRe  = regexp.MustCompile(`(?i)(\d+) bytes of (flash|eeprom) written`)
	verifyRe   = regexp.MustCompile(`(?i)verifying (flash|eeprom)`)
	verifiedRe = regexp.MustCompile(`(?i)(\d+) bytes of (flash|eeprom) verified`)
	readingRe  = regexp.MustCompile(`(?i)\breading (?:on-chip )?(flash|eeprom)\b`)
)

func (p *parser) emit(e Event) {
	if p.progress != nil {
		p.progress(e)
	}
}

func (p *parser) feed(b []byte) {
	for _, c := range b {
		if p.inBar {
			switch c {
			case '#':
				p.hashes++
				if p.hashes <= 50 {
					p.emit(Event{Op: p.barOp, Memory: p.memory, Percent: p.hashes * 2})
				}
				continue
			case '\n', '\r':
				p.inBar = false
			case ' ', '|':
				continue
			default:
				// the " | 100% 0.81s" tail: digits and the like; keep
				// them out of the line buffer until the newline.
				continue
			}
		}
		if c == '\n' || c == '\r' {
			p.endLine()
			continue
		}
		p.line = append(p.line, c)
		if s := string(p.line); s == "Writing | " || s == "Reading | " || s == "Erasing | " {
			p.inBar = true
			p.hashes = 0
			p.barOp = map[string]string{"Writing | ": "write", "Reading | ": "read", "Erasing | ": "erase"}[s]
			p.line = p.line[:0]
			p.emit(Event{Op: p.barOp, Memory: p.memory, Percent: 0})
		}
	}
}

func (p *parser) flush() { p.endLine() }

func (p *parser) endLine() {
	s := string(p.line)
	p.line = p.line[:0]
	if s == "" {
		return
	}
	// A terminal-style bar ("\rWriting | ####   | 42% 0.3s") when avrdude
	// thinks it has a terminal: take the percentage.
	if m := ttyBarRe.FindStringSubmatch(s); m != nil {
		pc, _ := strconv.Atoi(m[2])
		p.emit(Event{Op: map[string]string{"Writing": "write", "Reading": "read", "Erasing": "erase"}[m[1]], Memory: p.memory, Percent: pc})
		return
	}
	if sig := parseSig(s); sig != "" {
		p.signature = sig
	}
	if m := writtenRe.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		p.written[strings.ToLower(m[2])] = n
	} else if m := writingRe.FindStringSubmatch(s); m != nil {
		p.memory = strings.ToLower(m[2])
	}
	if m := verifyRe.FindStringSubmatch(s); m != nil {
		p.memory = strings.ToLower(m[1])
	}
	if m := readingRe.FindStringSubmatch(s); m != nil {
		p.memory = strings.ToLower(m[1])
	}
	if verifiedRe.MatchString(s) {
		p.verified = true
	}
}

var ttyBarRe = regexp.MustCompile(`^(Writing|Reading|Erasing) \|[# ]*\| (\d+)%`)

func parseSig(s string) string {
	m := sigRe.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1] + m[2] + m[3] + m[4])
}
