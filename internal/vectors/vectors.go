// Package vectors reads the published test vectors kept as data under the
// repository's vectors/ directory, in the format described by
// vectors/README.md.
//
// A file is a sequence of records separated by blank lines; a record is a set
// of "name = value" lines. Parsing is strict: a duplicate field, an odd or
// non-hex digit in a hex value, a malformed integer, a line that is not a
// field, a comment or a continuation, or a record without alg or source is an
// error that names the file and line.
//
// Which kind a value has is decided by the field's name: alg, source, name,
// note and result are text, repeat is a decimal integer, and every other
// field is hex.
package vectors

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// textFields are the fields whose values are text (trimmed, not decoded).
var textFields = []string{"alg", "source", "name", "note", "result"}

// intFields are the fields whose values are non-negative decimal integers.
var intFields = []string{"repeat"}

// MaxLineLen is the longest line, in bytes, a vector file may have.
const MaxLineLen = 64 << 10

// kind is how a field's value is decoded.
type kind int

const (
	kindHex kind = iota
	kindText
	kindInt
)

func kindOf(name string) kind {
	for _, n := range textFields {
		if n == name {
			return kindText
		}
	}
	for _, n := range intFields {
		if n == name {
			return kindInt
		}
	}
	return kindHex
}

// field is one decoded value and where it was written.
type field struct {
	line int
	text string // text fields, and the raw value of every field
	hex  []byte // hex fields
	num  int    // integer fields
}

// Record is one test vector: a set of named values from one vector file.
type Record struct {
	// Alg is the algorithm or construction the record tests (the alg field).
	Alg string
	// Source is the publication and section the values come from.
	Source string
	// File is the path the record was read from, as given to Load or Parse.
	File string
	// Line is the 1-based line of the record's first field.
	Line int

	fields map[string]*field
	order  []string
}

// Pos returns "file:line" for the record's first line, for messages.
func (r Record) Pos() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// FieldPos returns "file:line" of the named field, or of the record when the
// field is absent.
func (r Record) FieldPos(name string) string {
	if f, ok := r.fields[name]; ok {
		return fmt.Sprintf("%s:%d", r.File, f.line)
	}
	return r.Pos()
}

// Has reports whether the record carries the named field.
func (r Record) Has(name string) bool {
	_, ok := r.fields[name]
	return ok
}

// Names returns the record's field names in the order they were written.
func (r Record) Names() []string { return append([]string(nil), r.order...) }

// Hex returns a fresh copy of the named hex field's bytes; nil if the field is
// absent or not a hex field. An empty value is a non-nil empty slice.
func (r Record) Hex(name string) []byte {
	f, ok := r.fields[name]
	if !ok || f.hex == nil {
		return nil
	}
	return bytes.Clone(f.hex)
}

// Int returns the named integer field (repeat); 0 if it is absent.
func (r Record) Int(name string) int {
	if f, ok := r.fields[name]; ok {
		return f.num
	}
	return 0
}

// Text returns the named text field (alg, source, name, note, result); ""
// if it is absent.
func (r Record) Text(name string) string {
	if f, ok := r.fields[name]; ok && kindOf(name) == kindText {
		return f.text
	}
	return ""
}

// ExpectFail reports whether the record is a negative vector
// (result = fail): the operation must reject it.
func (r Record) ExpectFail() bool { return r.Text("result") == "fail" }

// Require returns an error naming the record's position if any of names is
// missing.
func (r Record) Require(names ...string) error {
	var missing []string
	for _, n := range names {
		if !r.Has(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("vectors: %s: %s record lacks %s", r.Pos(), r.Alg, strings.Join(missing, ", "))
	}
	return nil
}

// String formats the record in the file format, one field a line, in the
// order the fields were written. Parsing the result yields an equal record.
func (r Record) String() string {
	var b strings.Builder
	for _, n := range r.order {
		f := r.fields[n]
		switch kindOf(n) {
		case kindHex:
			fmt.Fprintf(&b, "%s = %x\n", n, f.hex)
		case kindInt:
			fmt.Fprintf(&b, "%s = %d\n", n, f.num)
		default:
			fmt.Fprintf(&b, "%s = %s\n", n, f.text)
		}
	}
	return b.String()
}

// WithHex returns a copy of the record whose hex field name is set to b
// (added if absent), for tests that mutate a vector and expect its check to
// fail. The receiver is not modified. It panics if name is not a hex field.
func (r Record) WithHex(name string, b []byte) Record {
	if kindOf(name) != kindHex || !validName(name) {
		panic("vectors: WithHex on non-hex field " + name)
	}
	c := r
	c.fields = make(map[string]*field, len(r.fields)+1)
	for k, v := range r.fields {
		c.fields[k] = v
	}
	line := r.Line
	if f, ok := r.fields[name]; ok {
		line = f.line
	} else {
		c.order = append(append([]string(nil), r.order...), name)
	}
	b = bytes.Clone(b)
	if b == nil {
		b = []byte{}
	}
	c.fields[name] = &field{line: line, text: hex.EncodeToString(b), hex: b}
	return c
}

// Load reads and parses the vector file at path.
func Load(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse parses vector records from r; name is used in records and errors.
func Parse(name string, r io.Reader) ([]Record, error) {
	p := parser{file: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineLen)
	for sc.Scan() {
		p.line++
		if err := p.feed(sc.Text()); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, p.errorf(p.line+1, "line longer than %d bytes", MaxLineLen)
		}
		return nil, fmt.Errorf("vectors: %s: %w", name, err)
	}
	if err := p.flush(); err != nil {
		return nil, err
	}
	return p.out, nil
}

// parser accumulates the raw lines of one record at a time.
type parser struct {
	file string
	line int
	out  []Record

	cur  *Record             // record being read, nil between records
	raw  map[string][]string // raw value pieces per field
	last string              // field continuation lines extend
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("vectors: %s:%d: %s", p.file, line, fmt.Sprintf(format, args...))
}

func (p *parser) feed(line string) error {
	line = strings.TrimRight(line, " \t\r")
	switch {
	case line == "":
		return p.flush()
	case line[0] == '#':
		return nil
	case line[0] == ' ' || line[0] == '\t':
		if p.cur == nil || p.last == "" {
			return p.errorf(p.line, "continuation line outside a field")
		}
		p.raw[p.last] = append(p.raw[p.last], strings.TrimSpace(line))
		return nil
	}
	name, value, ok := strings.Cut(line, "=")
	if !ok {
		return p.errorf(p.line, "expected \"name = value\", got %q", truncate(line))
	}
	name = strings.TrimRight(name, " \t")
	value = strings.TrimLeft(value, " \t")
	if !validName(name) {
		return p.errorf(p.line, "invalid field name %q", truncate(name))
	}
	if p.cur == nil {
		p.cur = &Record{File: p.file, Line: p.line, fields: map[string]*field{}}
		p.raw = map[string][]string{}
	}
	if _, dup := p.cur.fields[name]; dup {
		return p.errorf(p.line, "duplicate field %q (first on line %d)", name, p.cur.fields[name].line)
	}
	p.cur.fields[name] = &field{line: p.line}
	p.cur.order = append(p.cur.order, name)
	p.raw[name] = []string{value}
	p.last = name
	return nil
}

// flush decodes and emits the record being read, if any.
func (p *parser) flush() error {
	r := p.cur
	p.cur, p.last = nil, ""
	if r == nil {
		return nil
	}
	for _, name := range r.order {
		f := r.fields[name]
		pieces := p.raw[name]
		switch kindOf(name) {
		case kindText:
			f.text = strings.Join(slices.DeleteFunc(pieces, func(s string) bool { return s == "" }), " ")
			if f.text == "" {
				return p.errorf(f.line, "empty %s", name)
			}
			if name == "result" && f.text != "pass" && f.text != "fail" {
				return p.errorf(f.line, "result must be pass or fail, got %q", truncate(f.text))
			}
		case kindInt:
			s := strings.Join(pieces, "")
			n, err := strconv.ParseUint(s, 10, 63)
			if err != nil || s == "" || s[0] == '+' || n > math.MaxInt32 {
				return p.errorf(f.line, "%s: invalid integer %q", name, truncate(s))
			}
			f.text, f.num = s, int(n)
		default:
			s := strings.Join(pieces, "")
			if i := strings.IndexFunc(s, notHex); i >= 0 {
				return p.errorf(f.line, "%s: invalid hex digit %q", name, s[i:i+1])
			}
			if len(s)%2 != 0 {
				return p.errorf(f.line, "%s: odd number of hex digits (%d)", name, len(s))
			}
			b, err := hex.DecodeString(s)
			if err != nil {
				return p.errorf(f.line, "%s: invalid hex: %v", name, err)
			}
			if b == nil {
				b = []byte{}
			}
			f.text, f.hex = s, b
		}
	}
	if !r.Has("alg") {
		return p.errorf(r.Line, "record has no alg")
	}
	if !r.Has("source") {
		return p.errorf(r.Line, "record has no source")
	}
	r.Alg, r.Source = r.Text("alg"), r.Text("source")
	p.out = append(p.out, *r)
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func notHex(c rune) bool {
	return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F')
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Dir returns the repository's vectors/ directory: it walks up from the
// working directory to the first directory holding go.mod (as a test's
// working directory is its package directory) and joins "vectors".
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("vectors: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			v := filepath.Join(d, "vectors")
			if st, err := os.Stat(v); err != nil || !st.IsDir() {
				return "", fmt.Errorf("vectors: no vectors directory beside %s", filepath.Join(d, "go.mod"))
			}
			return v, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("vectors: no go.mod above %s", wd)
		}
		d = parent
	}
}

// Path returns the path of the named file in [Dir].
func Path(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

// Files returns the names of the *.txt vector files in [Dir], sorted.
func Files() ([]string, error) {
	d, err := Dir()
	if err != nil {
		return nil, err
	}
	m, err := filepath.Glob(filepath.Join(d, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	sort.Strings(m)
	return m, nil
}
