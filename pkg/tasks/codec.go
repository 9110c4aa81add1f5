package tasks

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Codec names tasks, turns command-line words into their argument bytes
// and decodes their results: the built-in tasks and the application tasks
// of Map (docs/tasks.md, "Application tasks"). The zero Codec knows the
// built-in tasks only; application bits (16..31) then take hex bytes and
// their results are raw ("extra").
type Codec struct {
	Map *Map // nil: no application task names
}

// Name is task t's name: built-in, from the map, or "bitN".
func (c Codec) Name(t Task) string { return c.Map.Name(t) }

// Names are the names of the built-in tasks and the map's, in bit order.
func (c Codec) Names() []string { return c.Map.Names() }

// Lookup finds a task by name (built-in, the map's, or "bitN") or by
// number (0..31).
func (c Codec) Lookup(name string) (Task, error) {
	if t, ok := c.Map.Lookup(name); ok {
		return t, nil
	}
	if n, err := strconv.ParseUint(name, 0, 8); err == nil && n < 32 {
		return Task(n), nil
	}
	return 0, fmt.Errorf("tasks: unknown task %q (known: %s)", name, strings.Join(c.Names(), ", "))
}

// Usage says what task t takes on the command line ("" for nothing).
func (c Codec) Usage(t Task) string {
	if u, ok := ArgsUsage[t]; ok {
		return u
	}
	if a, ok := c.Map.App(t); ok {
		return FieldsUsage(a.Args)
	}
	return "[HEX...]"
}

// Help says in one line what task t does: a built-in's Help, for a
// mapped task its bit and result fields.
func (c Codec) Help(t Task) string {
	if h, ok := Help[t]; ok {
		return h
	}
	if a, ok := c.Map.App(t); ok {
		h := fmt.Sprintf("application task (bit %d)", int(t))
		if len(a.Result) > 0 {
			r := make([]string, len(a.Result))
			for i, f := range a.Result {
				r[i] = f.Label + " (" + f.Type.String() + ")"
			}
			h += "; result: " + strings.Join(r, ", ")
		}
		return h
	}
	if t >= FirstAppTask {
		return fmt.Sprintf("application task (bit %d), not in the task map", int(t))
	}
	return ""
}

// Complete returns the values the argument after args of task t may take,
// for command-line completion (nil: any, or none). Mapped tasks take
// numbers and hex bytes, which are not completed.
func (c Codec) Complete(t Task, args []string) []string {
	if _, ok := c.Map.App(t); ok {
		return nil
	}
	return completeBuiltin(t, args)
}

// FieldsUsage describes fields as command-line arguments: "SENSOR (u8)",
// a bytes field as "[DATA (hex)]".
func FieldsUsage(fields []FieldSpec) string {
	u := make([]string, len(fields))
	for i, f := range fields {
		if f.Type == FieldBytes {
			u[i] = "[" + strings.ToUpper(f.Label) + " (hex)]"
			continue
		}
		u[i] = strings.ToUpper(f.Label) + " (" + f.Type.String() + ")"
	}
	return strings.Join(u, " ")
}

// ParseArgs turns command-line words into task t's argument bytes:
// built-in tasks as ArgsUsage says, a mapped task by its argument types
// (EncodeFields), any other task from hex bytes ("01 02" or "0102").
func (c Codec) ParseArgs(t Task, words []string) ([]byte, error) {
	if b, ok, err := parseBuiltinArgs(t, words); ok {
		return b, err
	}
	if a, ok := c.Map.App(t); ok {
		u := FieldsUsage(a.Args)
		if u == "" {
			u = "no arguments"
		}
		n := len(a.Args)
		if len(words) != n && !(n > 0 && a.Args[n-1].Type == FieldBytes && len(words) == n-1) {
			return nil, fmt.Errorf("tasks: %s takes %s", a.Name, u)
		}
		b, err := EncodeFields(a.Args, words)
		if err != nil {
			return nil, fmt.Errorf("tasks: %s: %v", a.Name, err)
		}
		return b, nil
	}
	var out []byte
	for _, w := range words {
		b, err := hex.DecodeString(w)
		if err != nil {
			return nil, fmt.Errorf("tasks: %s: arguments are hex bytes", c.Name(t))
		}
		out = append(out, b...)
	}
	return out, nil
}

// Decode turns task t's result into named fields, in order: built-in
// tasks as Decode does, a mapped task by its result fields (DecodeFields).
func (c Codec) Decode(t Task, r []byte) ([]Field, error) {
	a, ok := c.Map.App(t)
	if !ok {
		return Decode(t, r)
	}
	f, err := DecodeFields(a.Result, r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, a.Name, err)
	}
	return f, nil
}

// NewResult describes a reply to task t with request id id.
func (c Codec) NewResult(t Task, id uint16, st Status, result []byte) Result {
	return newResult(c, t, id, st, result)
}

// EncodeFields turns one word per field into bytes: integers (decimal,
// or 0x hex) are range-checked and big-endian; a bytes field is hex and
// may be left out (empty).
func EncodeFields(fields []FieldSpec, words []string) ([]byte, error) {
	n := len(fields)
	if n > 0 && fields[n-1].Type == FieldBytes && len(words) == n-1 {
		words = append(words[:n-1:n-1], "")
	}
	if len(words) != n {
		return nil, fmt.Errorf("%d arguments given, want %d", len(words), n)
	}
	var out []byte
	for i, f := range fields {
		w := words[i]
		if f.Type == FieldBytes {
			b, err := hex.DecodeString(w)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not hex bytes", f.Label, w)
			}
			out = append(out, b...)
			continue
		}
		bitSize := 8 * f.Type.Size()
		var v uint64
		if f.Type.Signed() {
			x, err := strconv.ParseInt(w, 0, bitSize)
			if err != nil {
				return nil, fmt.Errorf("%s: bad %s %q (%d..%d)", f.Label, f.Type, w, -1<<(bitSize-1), 1<<(bitSize-1)-1)
			}
			v = uint64(x)
		} else {
			x, err := strconv.ParseUint(w, 0, bitSize)
			if err != nil {
				return nil, fmt.Errorf("%s: bad %s %q (0..%d)", f.Label, f.Type, w, uint64(1)<<bitSize-1)
			}
			v = x
		}
		for s := bitSize - 8; s >= 0; s -= 8 {
			out = append(out, byte(v>>s))
		}
	}
	return out, nil
}

// DecodeFields decodes b by fields: unsigned integers as uint64, signed
// ones as int64, bytes as hex. Bytes beyond a fixed layout are kept in a
// field "extra", as Decode does; b shorter than the layout is an error.
func DecodeFields(fields []FieldSpec, b []byte) ([]Field, error) {
	out := make([]Field, 0, len(fields)+1)
	o := 0
	for _, f := range fields {
		if f.Type == FieldBytes {
			out = append(out, Field{f.Label, hex.EncodeToString(b[o:])})
			o = len(b)
			continue
		}
		n := f.Type.Size()
		if len(b)-o < n {
			return nil, fmt.Errorf("result of %d bytes, want at least %d", len(b), o+n)
		}
		var u uint64
		switch n {
		case 1:
			u = uint64(b[o])
		case 2:
			u = uint64(binary.BigEndian.Uint16(b[o:]))
		case 4:
			u = uint64(binary.BigEndian.Uint32(b[o:]))
		}
		var v any = u
		if f.Type.Signed() {
			shift := 64 - 8*n
			v = int64(u<<shift) >> shift
		}
		out = append(out, Field{f.Label, v})
		o += n
	}
	if o < len(b) {
		out = append(out, Field{"extra", hex.EncodeToString(b[o:])})
	}
	return out, nil
}
