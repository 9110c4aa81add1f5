package tasks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Application tasks. Bits 0..15 of a task set are reserved for mstool's
// built-in tasks; bits 16..31 belong to the application that runs on the
// device, which registers its own tasks there. The host learns their
// names and argument and result layouts from a task map file
// (ParseMap, docs/tasks.md "Application tasks").
const (
	FirstAppTask Task = 16         // the first application task bit
	LastAppTask  Task = 31         // the last application task bit
	BuiltinBits  Set  = 0x0000ffff // bits reserved for built-in tasks
	AppBits      Set  = 0xffff0000 // bits of application tasks
)

// MapVersion is the task map format version ParseMap reads; a
// map may declare it on its first line: "mstool-task-map 1".
const MapVersion = 1

// Limits of a task map.
const (
	MaxNameLen = 32  // bytes in a task name or a field label
	MaxMapLine = 512 // bytes in one line of a task map
)

// FieldType is the wire type of an application task's argument or
// result field. Integers are big-endian.
type FieldType uint8

// Field types.
const (
	FieldU8 FieldType = iota + 1
	FieldU16
	FieldU32
	FieldI8
	FieldI16
	FieldI32
	FieldBytes // the rest of the message; only the last field
)

var fieldTypeNames = map[FieldType]string{
	FieldU8: "u8", FieldU16: "u16", FieldU32: "u32",
	FieldI8: "i8", FieldI16: "i16", FieldI32: "i32", FieldBytes: "bytes",
}

func (t FieldType) String() string {
	if n, ok := fieldTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// Size is the field's size in bytes; 0 for FieldBytes (variable).
func (t FieldType) Size() int {
	switch t {
	case FieldU8, FieldI8:
		return 1
	case FieldU16, FieldI16:
		return 2
	case FieldU32, FieldI32:
		return 4
	}
	return 0
}

// Signed reports whether t is a signed integer type.
func (t FieldType) Signed() bool { return t == FieldI8 || t == FieldI16 || t == FieldI32 }

// FieldSpec is one argument or result field of an application task.
type FieldSpec struct {
	Type  FieldType
	Label string // never empty: the map's label, or "value" / "value_N" for a result field without one, "arg_N" for an argument
}

// AppTask is one application task of a task map.
type AppTask struct {
	Task   Task   // FirstAppTask..LastAppTask
	Name   string // lowercase [a-z0-9-]
	Args   []FieldSpec
	Result []FieldSpec
	// ReadOnly is the map's read-only flag: running the task changes
	// nothing on the device, so a client may repeat it (the gateway
	// serves it to GET; a task without the flag takes PUT only).
	ReadOnly bool
}

// Map names the application tasks (bits 16..31) of a device. A nil
// *Map is valid and knows the built-in tasks only. A Map is not
// modified after ParseMap returns it and is safe for concurrent use.
type Map struct {
	tasks [LastAppTask - FirstAppTask + 1]*AppTask
}

// MapError is a task map parse error at File:Line.
type MapError struct {
	File string
	Line int // 0 when the error is not about one line
	Msg  string
}

func (e *MapError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("tasks: task map %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("tasks: %s:%d: %s", e.File, e.Line, e.Msg)
}

// ParseMap reads a task map (docs/tasks.md, "Application tasks"):
// plain text, '#' starts a comment, one task per line:
//
//	BIT NAME [args=TYPE[:label],...] [result=TYPE[:label],...] [read-only]
//
// name is the file's name for error messages (*MapError).
func ParseMap(r io.Reader, name string) (*Map, error) {
	m := &Map{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxMapLine+1)
	lineNo, seenContent := 0, false
	names := map[string]int{}
	for sc.Scan() {
		lineNo++
		fail := func(format string, a ...any) error {
			return &MapError{File: name, Line: lineNo, Msg: fmt.Sprintf(format, a...)}
		}
		line := sc.Text()
		if len(line) > MaxMapLine {
			return nil, fail("line longer than %d bytes", MaxMapLine)
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if words[0] == "mstool-task-map" {
			if seenContent {
				return nil, fail("the mstool-task-map header must be the first line that is not a comment")
			}
			seenContent = true
			if len(words) != 2 || words[1] != strconv.Itoa(MapVersion) {
				return nil, fail("unsupported task map version %q (this mstool reads version %d)", strings.Join(words[1:], " "), MapVersion)
			}
			continue
		}
		seenContent = true
		t, err := parseTaskLine(words)
		if err != nil {
			return nil, fail("%v", err)
		}
		if prev := m.tasks[t.Task-FirstAppTask]; prev != nil {
			return nil, fail("bit %d is already task %q (line %d)", t.Task, prev.Name, names[prev.Name])
		}
		if l, ok := names[t.Name]; ok {
			return nil, fail("task name %q is already used (line %d)", t.Name, l)
		}
		names[t.Name] = lineNo
		m.tasks[t.Task-FirstAppTask] = t
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &MapError{File: name, Line: lineNo + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxMapLine)}
		}
		return nil, &MapError{File: name, Msg: err.Error()}
	}
	return m, nil
}

func parseTaskLine(words []string) (*AppTask, error) {
	if len(words) < 2 {
		return nil, errors.New("want BIT NAME [args=...] [result=...] [read-only]")
	}
	bit, err := strconv.ParseUint(words[0], 10, 8)
	if err != nil || bit > 31 {
		return nil, fmt.Errorf("bad task bit %q (application tasks are %d..%d)", words[0], FirstAppTask, LastAppTask)
	}
	if Task(bit) < FirstAppTask {
		return nil, fmt.Errorf("bit %d is reserved for built-in tasks (application tasks are %d..%d)", bit, FirstAppTask, LastAppTask)
	}
	t := &AppTask{Task: Task(bit), Name: words[1]}
	if err := checkName(t.Name, "task name", false); err != nil {
		return nil, err
	}
	if _, ok := LookupBuiltin(t.Name); ok || t.Name == "all" || isBitName(t.Name) {
		return nil, fmt.Errorf("task name %q is taken by mstool (built-in tasks, all, bitN)", t.Name)
	}
	seen := map[string]bool{}
	for _, w := range words[2:] {
		key, val, ok := strings.Cut(w, "=")
		if w == "read-only" {
			key, ok = w, true
		} else if !ok || (key != "args" && key != "result") {
			return nil, fmt.Errorf("unexpected %q (want args=..., result=... or read-only)", w)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s given twice", strings.TrimSuffix(w, val))
		}
		seen[key] = true
		if key == "read-only" {
			t.ReadOnly = true
			continue
		}
		fields, err := parseFields(key, val)
		if err != nil {
			return nil, err
		}
		if key == "args" {
			t.Args = fields
		} else {
			t.Result = fields
		}
	}
	return t, nil
}

func parseFields(key, val string) ([]FieldSpec, error) {
	if val == "" {
		return nil, fmt.Errorf("%s= lists no fields (leave it out for none)", key)
	}
	parts := strings.Split(val, ",")
	out := make([]FieldSpec, len(parts))
	for i, p := range parts {
		typ, label, hasLabel := strings.Cut(p, ":")
		ft := FieldType(0)
		for k, n := range fieldTypeNames {
			if n == typ {
				ft = k
			}
		}
		if ft == 0 {
			return nil, fmt.Errorf("%s: unknown type %q (u8, u16, u32, i8, i16, i32 or bytes)", key, typ)
		}
		if ft == FieldBytes && i != len(parts)-1 {
			return nil, fmt.Errorf("%s: bytes takes the rest of the message: only the last field may be bytes", key)
		}
		if hasLabel {
			if err := checkName(label, key+" label", true); err != nil {
				return nil, err
			}
		}
		out[i] = FieldSpec{Type: ft, Label: label}
	}
	// Default labels, then uniqueness.
	seen := map[string]bool{}
	for i := range out {
		if out[i].Label == "" {
			switch {
			case key == "args":
				out[i].Label = fmt.Sprintf("arg_%d", i+1)
			case len(out) == 1:
				out[i].Label = "value"
			default:
				out[i].Label = fmt.Sprintf("value_%d", i+1)
			}
		}
		if key == "result" && out[i].Label == "extra" {
			return nil, errors.New(`result: label "extra" is reserved for bytes beyond the layout`)
		}
		if seen[out[i].Label] {
			return nil, fmt.Errorf("%s: label %q used twice", key, out[i].Label)
		}
		seen[out[i].Label] = true
	}
	return out, nil
}

// checkName: lowercase letters, digits and '-' (labels also '_'),
// starting with a letter, at most MaxNameLen bytes.
func checkName(s, what string, underscore bool) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%s %q is longer than %d bytes", what, s, MaxNameLen)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '-' || underscore && c == '_')
		if !ok {
			return fmt.Errorf("bad %s %q (lowercase letters, digits and '-', starting with a letter)", what, s)
		}
	}
	return nil
}

// isBitName reports whether s has the form bitN, the name of a bit that
// has no name.
func isBitName(s string) bool {
	_, ok := parseBitName(s)
	return ok
}

func parseBitName(s string) (Task, bool) {
	d, ok := strings.CutPrefix(s, "bit")
	if !ok || d == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(d, 10, 8)
	if err != nil || n > 31 {
		return 0, false
	}
	return Task(n), true
}

// App returns the application task at bit t, if the map has one.
func (m *Map) App(t Task) (AppTask, bool) {
	if m == nil || t < FirstAppTask || t > LastAppTask || m.tasks[t-FirstAppTask] == nil {
		return AppTask{}, false
	}
	return *m.tasks[t-FirstAppTask], true
}

// AppTasks returns the map's tasks in bit order.
func (m *Map) AppTasks() []AppTask {
	var out []AppTask
	if m == nil {
		return nil
	}
	for _, t := range m.tasks {
		if t != nil {
			out = append(out, *t)
		}
	}
	return out
}

// Name returns task t's name: a built-in's, the map's, or "bitN".
func (m *Map) Name(t Task) string {
	if a, ok := m.App(t); ok {
		return a.Name
	}
	return t.String()
}

// Lookup finds a task by name: a built-in task, a task of the map, or
// "bitN" for a built-in or application bit (N in 0..NumTasks-1 or
// 16..31), so that application tasks can be named without a map.
func (m *Map) Lookup(name string) (Task, bool) {
	if t, ok := LookupBuiltin(name); ok {
		return t, true
	}
	for _, t := range m.AppTasks() {
		if t.Name == name {
			return t.Task, true
		}
	}
	if t, ok := parseBitName(name); ok && (int(t) < NumBuiltin || t >= FirstAppTask) {
		return t, true
	}
	return 0, false
}

// Names returns the names of the built-in tasks and then the map's, in
// bit order.
func (m *Map) Names() []string {
	out := BuiltinNames()
	for _, t := range m.AppTasks() {
		out = append(out, t.Name)
	}
	return out
}

// All is the task set of every built-in task and every task of the map
// ("all" on the command line).
func (m *Map) All() Set {
	all := AllBuiltin
	for _, t := range m.AppTasks() {
		all |= 1 << t.Task
	}
	return all
}

// TaskNames returns the names of the tasks in t, in bit order; bits
// without a name are "bitN".
func (m *Map) TaskNames(t Set) []string {
	var out []string
	for i := Task(0); i < 32; i++ {
		if t.Has(i) {
			out = append(out, m.Name(i))
		}
	}
	return out
}

// ParseTasks reads a comma-separated list of task names as the package's
// ParseTasks does, knowing the map's tasks too: "all" is every built-in
// and mapped task, and "bitN" names an application bit without a map.
func (m *Map) ParseTasks(s string) (Set, error) {
	valid := func() string { return strings.Join(m.Names(), ", ") }
	var t Set
	for _, f := range strings.Split(s, ",") {
		name := strings.ToLower(strings.TrimSpace(f))
		if name == "" {
			continue
		}
		if name == "all" {
			t |= m.All()
			continue
		}
		task, ok := m.Lookup(name)
		if !ok {
			return 0, fmt.Errorf("tasks: unknown task %q (valid tasks: %s, or all)", name, valid())
		}
		t |= 1 << task
	}
	if t == 0 {
		return 0, fmt.Errorf("tasks: no tasks given (valid tasks: %s, or all)", valid())
	}
	return t, nil
}
