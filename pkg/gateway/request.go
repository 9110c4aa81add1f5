package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mstool/mstool/pkg/tasks"
)

// Outcome is what became of a request, independent of the protocol that
// carried it: CoAP maps it to a response code (docs/gateway.md, "Errors").
type Outcome int

const (
	OK                Outcome = iota // 2.05 Content (GET), 2.04 Changed (PUT)
	BadRequest                       // 4.00: arguments the task does not take
	Forbidden                        // 4.03: the identity (or the device's grant) does not permit the task
	NotFound                         // 4.04: no such device or task
	MethodNotAllowed                 // 4.05: GET on a task that writes, PUT on one that only reads
	NotAcceptable                    // 4.06: a content-format the gateway does not write
	UnsupportedFormat                // 4.15: a payload format the gateway does not read
	DeviceFailed                     // 5.02: the device ran the task and reported a failure
	Busy                             // 5.03: the device's queue is full, or the gateway is stopping
	Unreachable                      // 5.04: the device did not answer
)

// Method is the request's method.
type Method int

const (
	GET Method = iota
	PUT
	OtherMethod // any other: 4.05, once the checks before it pass
)

// Format is a content-format the gateway reads and writes (RFC 7252 §12.3).
type Format int

const (
	FormatNone Format = -1
	FormatText Format = 0  // text/plain; charset=utf-8
	FormatLink Format = 40 // application/link-format
	FormatJSON Format = 50 // application/json
)

// Request is one task request.
type Request struct {
	Identity string
	Method   Method
	Device   string
	Task     string
	Query    []string // Uri-Query options: NAME=VALUE or VALUE
	Payload  []byte
	Format   Format // the payload's (FormatNone: none given)
	// Accept is the content-format the client asks for: FormatText (the
	// zero value) or FormatNone (none given) for text/plain, FormatJSON;
	// any other, FormatLink too, is 4.06.
	Accept Format
}

// Response is the answer: an outcome with a message, and for OK the
// task's result.
type Response struct {
	Outcome Outcome
	Message string        // why, for errors (diagnostic payload)
	Result  *tasks.Result // OK, and device errors with a reply
}

// argNames are the query parameter names of the built-in tasks'
// arguments, in order (docs/gateway.md, "Arguments").
var argNames = map[tasks.Task][]string{
	tasks.TaskLED:           {"op"},
	tasks.TaskADC:           {"ch"},
	tasks.TaskSettingsRead:  {"index"},
	tasks.TaskSettingsWrite: {"index", "value"},
}

// ArgNames are the query parameter names of task t of codec c.
func ArgNames(c tasks.Codec, t tasks.Task) []string {
	if n, ok := argNames[t]; ok {
		return n
	}
	if a, ok := c.Map.App(t); ok {
		out := make([]string, len(a.Args))
		for i, f := range a.Args {
			out[i] = f.Label
		}
		return out
	}
	return nil
}

// writes reports whether task t with words changes the device's state
// (PUT), or only reads it (GET). An application task writes unless its
// task map line says read-only: the gateway cannot know what it does,
// and a GET must be safe (a client, a proxy or a browser's prefetch may
// repeat it).
func writes(codec tasks.Codec, t tasks.Task, words []string) bool {
	switch t {
	case tasks.TaskSettingsWrite:
		return true
	case tasks.TaskLED:
		return len(words) > 0 && words[0] != "read"
	}
	if t < tasks.FirstAppTask {
		return false
	}
	at, _ := codec.Map.App(t)
	return !at.ReadOnly
}

// argWords turns query parameters and a payload into the task's
// command-line words (tasks.Codec.ParseArgs): named parameters fill their
// slot, positional ones (query items without '=', payload words, in this
// order) the free slots from the first.
func argWords(names []string, query []string, payload []byte, f Format) ([]string, error) {
	switch f {
	case FormatNone, FormatText, FormatJSON:
	default:
		return nil, errUnsupportedFormat // before any argument: 4.15 precedes 4.00
	}
	slots := make([]string, max(len(names), 0))
	set := make([]bool, len(slots))
	var pos []string
	put := func(k, v string) error {
		for i, n := range names {
			if n == k || (k == "channel" && n == "ch") {
				if set[i] {
					return fmt.Errorf("%s given twice", k)
				}
				slots[i], set[i] = v, true
				return nil
			}
		}
		if len(names) == 0 {
			return fmt.Errorf("the task takes no arguments")
		}
		return fmt.Errorf("unknown argument %q (this task takes %s)", k, strings.Join(names, ", "))
	}
	for _, q := range query {
		if k, v, ok := strings.Cut(q, "="); ok {
			if err := put(k, v); err != nil {
				return nil, err
			}
		} else {
			pos = append(pos, q)
		}
	}
	switch f {
	case FormatNone, FormatText:
		pos = append(pos, strings.Fields(string(payload))...)
	case FormatJSON:
		if len(payload) > 0 {
			keys, vals, err := jsonArgs(payload)
			if err != nil {
				return nil, err
			}
			for i, k := range keys {
				var v string
				switch x := vals[i].(type) {
				case string:
					v = x
				case float64:
					v = strconv.FormatFloat(x, 'f', -1, 64)
				case bool:
					v = strconv.FormatBool(x)
				default:
					return nil, fmt.Errorf("argument %s: want a string or a number", k)
				}
				if err := put(k, v); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, w := range pos {
		i := 0
		for i < len(set) && set[i] {
			i++
		}
		if i == len(set) {
			return nil, fmt.Errorf("too many arguments (this task takes %d)", len(names))
		}
		slots[i], set[i] = w, true
	}
	n := 0
	for i := range set {
		if set[i] {
			n = i + 1
		}
	}
	for i := 0; i < n; i++ {
		if !set[i] {
			return nil, fmt.Errorf("argument %s missing", names[i])
		}
	}
	return slots[:n], nil
}

var errUnsupportedFormat = errors.New("unsupported payload format")

// jsonArgs reads a JSON object of arguments: its keys in order and their
// values. A key given twice is an error (encoding/json would keep the
// last value without a word), as a query parameter given twice is.
func jsonArgs(payload []byte) (keys []string, vals []any, err error) {
	notObject := func(err error) error {
		return fmt.Errorf("the JSON payload is not an object of arguments: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil {
		return nil, nil, notObject(err)
	} else if t != json.Delim('{') {
		return nil, nil, notObject(fmt.Errorf("it starts with %v", t))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, notObject(err)
		}
		k, ok := t.(string)
		if !ok {
			return nil, nil, notObject(fmt.Errorf("a key that is not a string: %v", t))
		}
		if slices.Contains(keys, k) {
			return nil, nil, fmt.Errorf("%s given twice", k)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, notObject(err)
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, notObject(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, notObject(errors.New("data after the object"))
	}
	return keys, vals, nil
}

// Do runs one request: the checks of docs/gateway.md, "Errors", in order
// (device, task: 4.04; permission: 4.03; payload format: 4.15;
// arguments: 4.00; method: 4.05; Accept: 4.06), then the task on the
// device through its queue. It needs Serve running (the device workers);
// once Serve stops, requests are answered Busy.
func (g *Gateway) Do(ctx context.Context, r *Request) *Response {
	g.st.requests.Add(1)
	resp := g.do(ctx, r)
	switch {
	case resp.Outcome == OK:
		g.st.byClass[2].Add(1)
		g.remember(r.Device, resp.Result)
	case resp.Outcome >= DeviceFailed:
		g.st.byClass[5].Add(1)
	default:
		g.st.byClass[4].Add(1)
	}
	return resp
}

func (g *Gateway) do(ctx context.Context, r *Request) *Response {
	fail := func(o Outcome, format string, a ...any) *Response {
		return &Response{Outcome: o, Message: fmt.Sprintf(format, a...)}
	}
	id := g.cfg.Identity(r.Identity)
	if id == nil {
		return fail(Forbidden, "unknown identity")
	}
	d := g.devices[r.Device]
	if d == nil {
		return fail(NotFound, "no device %q", r.Device)
	}
	codec := d.cfg.Codec()
	t, ok := codec.Map.Lookup(r.Task)
	if !ok {
		return fail(NotFound, "device %s has no task %q", r.Device, r.Task)
	}
	if !id.Tasks[d.cfg.Name].Has(t) {
		return fail(Forbidden, "identity %s may not run %s on %s", id.Name, codec.Name(t), d.cfg.Name)
	}
	words, err := argWords(ArgNames(codec, t), r.Query, r.Payload, r.Format)
	if errors.Is(err, errUnsupportedFormat) {
		return fail(UnsupportedFormat, "payloads are text/plain or application/json")
	}
	if err != nil {
		return fail(BadRequest, "%s: %v", codec.Name(t), err)
	}
	if t == tasks.TaskLED && len(words) == 0 {
		words = []string{"read"}
	}
	args, err := codec.ParseArgs(t, words)
	if err != nil {
		return fail(BadRequest, "%v", strings.TrimPrefix(err.Error(), "tasks: "))
	}
	w := writes(codec, t, words)
	switch {
	case r.Method != GET && r.Method != PUT:
		return fail(MethodNotAllowed, "%s: GET or PUT", codec.Name(t))
	case w && t >= tasks.FirstAppTask && r.Method == GET:
		return fail(MethodNotAllowed, "%s may change the device (its task map line does not say read-only): use PUT", codec.Name(t))
	case w && r.Method == GET:
		return fail(MethodNotAllowed, "%s %s changes the device: use PUT", codec.Name(t), strings.Join(words, " "))
	case !w && r.Method == PUT:
		return fail(MethodNotAllowed, "%s only reads: use GET", codec.Name(t))
	}
	switch r.Accept {
	case FormatNone, FormatText, FormatJSON:
	default:
		return fail(NotAcceptable, "%s answers in text/plain (0) or application/json (50)", codec.Name(t))
	}
	res, err := d.do(ctx, g.stopping, t, args)
	switch {
	case errors.Is(err, ErrBusy):
		return fail(Busy, "device %s is busy (%d requests queued): retry later", d.cfg.Name, d.cfg.Queue)
	case errors.Is(err, ErrStopped):
		return fail(Busy, "the gateway is stopping")
	case err != nil:
		return fail(Unreachable, "device %s does not answer", d.cfg.Name)
	}
	tr := codec.NewResult(t, res.reply.ID, res.reply.Status, res.reply.Result)
	tr.Transport = string(d.cfg.Leg)
	tr.RTTms = float64(res.rtt) / float64(time.Millisecond)
	tr.Attempts = 1
	out := &Response{Outcome: OK, Result: &tr}
	switch res.reply.Status {
	case tasks.StatusOK:
	case tasks.StatusDenied:
		out.Outcome, out.Message = Forbidden, fmt.Sprintf("device %s refused %s: its grant does not permit it", d.cfg.Name, codec.Name(t))
	case tasks.StatusUnknownTask:
		out.Outcome, out.Message = NotFound, fmt.Sprintf("device %s does not know task %s", d.cfg.Name, codec.Name(t))
	case tasks.StatusBadArgs:
		out.Outcome, out.Message = BadRequest, fmt.Sprintf("device %s: %s: bad arguments", d.cfg.Name, codec.Name(t))
	default:
		out.Outcome, out.Message = DeviceFailed, fmt.Sprintf("device %s: %s: %s", d.cfg.Name, codec.Name(t), res.reply.Status)
	}
	return out
}

// Resource is one task resource an identity may use (/.well-known/core).
type Resource struct {
	Path   string // /DEVICE/TASK
	Device string
	Task   string
	Args   []string // query parameter names
	Writes bool     // PUT (led: both)
	Title  string
}

// Resources lists the task resources identity may use, devices in
// configuration order, tasks in bit order.
func (g *Gateway) Resources(identity string) []Resource {
	id := g.cfg.Identity(identity)
	if id == nil {
		return nil
	}
	var out []Resource
	for _, d := range g.order {
		set := id.Tasks[d.cfg.Name]
		codec := d.cfg.Codec()
		for i := 0; i < 32; i++ {
			t := tasks.Task(i)
			if !set.Has(t) {
				continue
			}
			name := codec.Name(t)
			out = append(out, Resource{Path: "/" + d.cfg.Name + "/" + name, Device: d.cfg.Name, Task: name,
				Args: ArgNames(codec, t), Writes: writes(codec, t, []string{"on"}), Title: codec.Help(t)})
		}
	}
	return out
}
