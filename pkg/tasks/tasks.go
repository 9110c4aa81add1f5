// Package tasks is the registry of device tasks and the wire format of
// the device's task service (docs/tasks.md): task numbers and names (Task,
// the built-ins; Map, an application's tasks at bits 16..31), sets of them
// (Set, a grant's task bits: pkg/grant), requests and replies, the
// arguments each task takes and the results it returns. ESP sessions
// (pkg/espsession) carry these messages in UDP to port Port; MSSL carries
// the same messages.
package tasks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Port is the device's UDP port for task requests (inside ESP).
const Port = 7411

// Version is the message format version.
const Version = 1

// Sizes.
const (
	RequestHeaderLen = 4 // version, task, request id
	ReplyHeaderLen   = 5 // version, task, request id, status
)

// Status is a reply's status byte.
type Status uint8

// Reply statuses.
const (
	StatusOK          Status = 0
	StatusUnknownTask Status = 1
	StatusBadArgs     Status = 2
	StatusDenied      Status = 3
	StatusFailed      Status = 4
	StatusBadVersion  Status = 5
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusUnknownTask:
		return "unknown task"
	case StatusBadArgs:
		return "bad arguments"
	case StatusDenied:
		return "denied"
	case StatusFailed:
		return "failed"
	case StatusBadVersion:
		return "unsupported version"
	}
	return fmt.Sprintf("status %d", uint8(s))
}

// ErrMalformed: a reply that does not follow docs/tasks.md.
var ErrMalformed = errors.New("tasks: malformed reply")

// AppendRequest appends a request for task with request id id and the
// task's argument bytes.
func AppendRequest(dst []byte, task Task, id uint16, args []byte) []byte {
	dst = append(dst, Version, byte(task))
	dst = binary.BigEndian.AppendUint16(dst, id)
	return append(dst, args...)
}

// Reply is a parsed task reply.
type Reply struct {
	Task   Task
	ID     uint16
	Status Status
	Result []byte // aliases the message
}

// ParseReply parses a task reply.
func ParseReply(b []byte) (Reply, error) {
	if len(b) < ReplyHeaderLen {
		return Reply{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return Reply{}, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	r := Reply{Task: Task(b[1]), ID: binary.BigEndian.Uint16(b[2:]), Status: Status(b[4]), Result: b[ReplyHeaderLen:]}
	if r.Status != StatusOK && len(r.Result) != 0 {
		return Reply{}, fmt.Errorf("%w: result with status %d", ErrMalformed, r.Status)
	}
	return r, nil
}

// ParseRequest parses a request (the device side; tests and fakes).
func ParseRequest(b []byte) (task Task, id uint16, args []byte, err error) {
	if len(b) < RequestHeaderLen {
		return 0, 0, nil, fmt.Errorf("tasks: request of %d bytes", len(b))
	}
	return Task(b[1]), binary.BigEndian.Uint16(b[2:]), b[RequestHeaderLen:], nil
}

// AppendReply appends a reply (the device side; tests and fakes).
func AppendReply(dst []byte, task Task, id uint16, st Status, result []byte) []byte {
	dst = append(dst, Version, byte(task))
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = append(dst, byte(st))
	return append(dst, result...)
}

// LED operations (task led's argument; none reads it).
var ledOps = map[string]byte{"off": 0, "on": 1, "toggle": 2, "read": 3}

// ArgsUsage says what each task takes on the command line.
var ArgsUsage = map[Task]string{
	TaskID:            "",
	TaskUptime:        "",
	TaskCounters:      "",
	TaskLED:           "[on|off|toggle|read]",
	TaskADC:           "CHANNEL (0-7)",
	TaskSettingsRead:  "INDEX (0-1)",
	TaskSettingsWrite: "INDEX (0-1) VALUE (0-65535)",
}

// Lookup finds a built-in task by name or number, or an application bit
// by "bitN" or number (Codec.Lookup knows a task map's names too).
func Lookup(name string) (Task, error) { return Codec{}.Lookup(name) }

// Help says in one line what each built-in task does (Codec.Help knows a
// task map's tasks too).
var Help = map[Task]string{
	TaskID:            "the device id, firmware version, MCU and suites",
	TaskUptime:        "seconds since reset and boot count",
	TaskCounters:      "the packet and drop counters",
	TaskLED:           "switch or read the LED",
	TaskADC:           "read an ADC channel",
	TaskSettingsRead:  "read an EEPROM-backed setting",
	TaskSettingsWrite: "change an EEPROM-backed setting",
}

// Complete returns the values the argument after args of a built-in task
// may take, for command-line completion (nil: any, or none); Codec.Complete
// knows a task map's tasks too.
func Complete(t Task, args []string) []string { return Codec{}.Complete(t, args) }

// completeBuiltin is Complete for the built-in tasks.
func completeBuiltin(t Task, args []string) []string {
	switch {
	case t == TaskLED && len(args) == 0:
		return []string{"off", "on", "read", "toggle"}
	case t == TaskADC && len(args) == 0:
		return []string{"0", "1", "2", "3", "4", "5", "6", "7"}
	case (t == TaskSettingsRead || t == TaskSettingsWrite) && len(args) == 0:
		return []string{"0", "1"}
	}
	return nil
}

// ParseArgs turns command-line words into a built-in task's argument
// bytes; other tasks take hex bytes (Codec.ParseArgs knows a task map's).
func ParseArgs(t Task, words []string) ([]byte, error) { return Codec{}.ParseArgs(t, words) }

// parseBuiltinArgs is ParseArgs for the built-in tasks; ok is false for
// other tasks.
func parseBuiltinArgs(t Task, words []string) (b []byte, ok bool, err error) {
	want := func(n int) error {
		if len(words) != n {
			u := ArgsUsage[t]
			if u == "" {
				u = "no arguments"
			}
			return fmt.Errorf("tasks: %s takes %s", t, u)
		}
		return nil
	}
	num := func(s string, max uint64, what string) (uint64, error) {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil || v > max {
			return 0, fmt.Errorf("tasks: %s: bad %s %q (0-%d)", t, what, s, max)
		}
		return v, nil
	}
	switch t {
	case TaskID, TaskUptime, TaskCounters:
		return nil, true, want(0)
	case TaskLED:
		if len(words) == 0 { // what the gateway's GET does
			return []byte{ledOps["read"]}, true, nil
		}
		if err := want(1); err != nil {
			return nil, true, err
		}
		op, ok := ledOps[words[0]]
		if !ok {
			return nil, true, fmt.Errorf("tasks: led: %q is not on, off, toggle or read", words[0])
		}
		return []byte{op}, true, nil
	case TaskADC:
		if err := want(1); err != nil {
			return nil, true, err
		}
		c, err := num(words[0], 7, "channel")
		return []byte{byte(c)}, true, err
	case TaskSettingsRead:
		if err := want(1); err != nil {
			return nil, true, err
		}
		i, err := num(words[0], 1, "index")
		return []byte{byte(i)}, true, err
	case TaskSettingsWrite:
		if err := want(2); err != nil {
			return nil, true, err
		}
		i, err := num(words[0], 1, "index")
		if err != nil {
			return nil, true, err
		}
		v, err := num(words[1], 0xffff, "value")
		return []byte{byte(i), byte(v >> 8), byte(v)}, true, err
	}
	return nil, false, nil
}

// CounterNames are the counters of task counters, in order (docs/tasks.md).
var CounterNames = []string{
	"slip_frames", "slip_dropped", "ipv4_received", "ipv4_bad_header", "ipv4_options_fragments",
	"ipv4_not_for_us", "not_esp_dropped", "esp_unknown_spi", "esp_auth_failed", "esp_replayed",
	"esp_malformed", "udp_bad", "udp_no_service", "icmp_echo_answered", "tasks_served", "packets_sent",
	"icmp_dropped", "not_answered",
}

// Counter indexes into Counters.
const (
	CounterSLIPFrames = iota
	CounterSLIPDropped
	CounterIPv4Received
	CounterIPv4BadHeader
	CounterIPv4OptionsFragments
	CounterIPv4NotForUs
	CounterNotESP
	CounterESPUnknownSPI
	CounterESPAuthFailed
	CounterESPReplayed
	CounterESPMalformed
	CounterUDPBad
	CounterUDPNoService
	CounterICMPEchoAnswered
	CounterTasksServed
	CounterPacketsSent
	CounterICMPDropped
	CounterNotAnswered
)

// Field is one named value of a decoded result.
type Field struct {
	Name  string
	Value any // uint64, int64 (signed fields of application tasks), string or bool
}

// Suites bit names for task id (bit s-1 for esp.Suite s).
var suiteNames = []string{"aes128-ccm8", "aes128-ccm16", "aes128-gcm16", "aes128-ctr-hmac-sha256-128",
	"aes128-cbc-hmac-md5-96", "aes128-cbc-hmac-sha1-96", "aes128-cbc-hmac-sha256-128", "null-hmac-sha256-128"}

// Decode turns a built-in task's result into named fields, in order.
// Results longer than the task's known layout keep their extra bytes in a
// field "extra" (counters: more counters are named counter_N); the result
// of a task outside the registry is all "extra" (Codec.Decode knows a task
// map's layouts).
func Decode(t Task, r []byte) ([]Field, error) {
	short := func(n int) error {
		if len(r) < n {
			return fmt.Errorf("%w: %s result of %d bytes, want %d", ErrMalformed, t, len(r), n)
		}
		return nil
	}
	be16 := func(o int) uint64 { return uint64(binary.BigEndian.Uint16(r[o:])) }
	be32 := func(o int) uint64 { return uint64(binary.BigEndian.Uint32(r[o:])) }
	var f []Field
	n := 0
	switch t {
	case TaskID:
		if err := short(8); err != nil {
			return nil, err
		}
		mcu := map[byte]string{1: "atmega328p", 2: "atmega168"}[r[6]]
		if mcu == "" {
			mcu = fmt.Sprintf("mcu%d", r[6])
		}
		var suites []string
		for i, s := range suiteNames {
			if r[7]&(1<<i) != 0 {
				suites = append(suites, s)
			}
		}
		f = []Field{{"device_id", fmt.Sprintf("0x%08x", be32(0))}, {"firmware", fmt.Sprintf("%d.%d", r[4], r[5])},
			{"mcu", mcu}, {"suites", strings.Join(suites, ",")}}
		n = 8
	case TaskUptime:
		if err := short(6); err != nil {
			return nil, err
		}
		f = []Field{{"uptime_s", be32(0)}, {"boot_count", be16(4)}}
		n = 6
	case TaskCounters:
		for i := 0; i+4 <= len(r); i += 4 {
			name := fmt.Sprintf("counter_%d", i/4)
			if i/4 < len(CounterNames) {
				name = CounterNames[i/4]
			}
			f = append(f, Field{name, be32(i)})
		}
		n = len(r) / 4 * 4
	case TaskLED:
		if err := short(1); err != nil {
			return nil, err
		}
		f = []Field{{"led", r[0] != 0}}
		n = 1
	case TaskADC:
		if err := short(2); err != nil {
			return nil, err
		}
		f = []Field{{"adc", be16(0)}}
		n = 2
	case TaskSettingsRead, TaskSettingsWrite:
		if err := short(2); err != nil {
			return nil, err
		}
		f = []Field{{"value", be16(0)}}
		n = 2
	}
	if n < len(r) {
		f = append(f, Field{"extra", fmt.Sprintf("%x", r[n:])})
	}
	return f, nil
}

// Counters decodes task counters' result into values indexed like
// CounterNames (missing counters are zero).
func Counters(r []byte) []uint64 {
	out := make([]uint64, max(len(CounterNames), len(r)/4))
	for i := 0; i+4 <= len(r); i += 4 {
		out[i/4] = uint64(binary.BigEndian.Uint32(r[i:]))
	}
	return out
}

// Result is one task's outcome as a host reports it, whatever carried the
// task (ESP or MSSL): the schema of mstool's --json task results
// (docs/json.md, "Task results"). NewResult fills it from a reply.
type Result struct {
	Task       string `json:"task"`        // the task's name (or its number)
	ID         uint16 `json:"id"`          // the request id
	Status     string `json:"status"`      // Status.String()
	StatusCode int    `json:"status_code"` // the status byte
	// Allowed is false when the device refused the task as not permitted
	// (StatusDenied: the grant of an MSSL session).
	Allowed bool `json:"allowed"`
	// Result holds the decoded fields (Decode); nil when the status is not
	// ok or the result does not decode (DecodeError says why).
	Result      map[string]any `json:"result"`
	Raw         string         `json:"raw"` // the result bytes, hex
	DecodeError string         `json:"decode_error,omitempty"`

	// Transport is "esp" or "mssl"; RTTms (the answered attempt's round
	// trip) and Attempts are measured by the host.
	Transport string  `json:"transport"`
	RTTms     float64 `json:"rtt_ms"`
	Attempts  int     `json:"attempts"`

	// Fields are the decoded fields in order (for tables).
	Fields []Field `json:"-"`
}

// NewResult describes a reply to built-in task t with request id id
// (Codec.NewResult knows a task map's tasks).
func NewResult(t Task, id uint16, st Status, result []byte) Result {
	return Codec{}.NewResult(t, id, st, result)
}

func newResult(c Codec, t Task, id uint16, st Status, result []byte) Result {
	r := Result{Task: c.Name(t), ID: id, Status: st.String(), StatusCode: int(st),
		Allowed: st != StatusDenied, Raw: fmt.Sprintf("%x", result)}
	if st != StatusOK {
		return r
	}
	f, err := c.Decode(t, result)
	if err != nil {
		r.DecodeError = err.Error()
		return r
	}
	r.Fields = f
	r.Result = make(map[string]any, len(f))
	for _, x := range f {
		r.Result[x.Name] = x.Value
	}
	return r
}
