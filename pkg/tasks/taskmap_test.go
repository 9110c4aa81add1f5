package tasks_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/tasks"
)

const exampleMap = `# the sensor board's tasks
mstool-task-map 1

16 temperature args=u8:sensor result=i16:centi-celsius read-only
17 pump args=u8:state,u16:seconds   # no result
20 log-read read-only result=u32:offset,bytes:data
31 blink
`

func TestParseTaskMap(t *testing.T) {
	m, err := tasks.ParseMap(strings.NewReader(exampleMap), "board.map")
	if err != nil {
		t.Fatal(err)
	}
	want := []tasks.AppTask{
		{Task: 16, Name: "temperature", Args: []tasks.FieldSpec{{tasks.FieldU8, "sensor"}}, Result: []tasks.FieldSpec{{tasks.FieldI16, "centi-celsius"}}, ReadOnly: true},
		{Task: 17, Name: "pump", Args: []tasks.FieldSpec{{tasks.FieldU8, "state"}, {tasks.FieldU16, "seconds"}}},
		{Task: 20, Name: "log-read", Result: []tasks.FieldSpec{{tasks.FieldU32, "offset"}, {tasks.FieldBytes, "data"}}, ReadOnly: true},
		{Task: 31, Name: "blink"},
	}
	if got := m.AppTasks(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got := strings.Join(m.Names(), ","); got != "id,uptime,counters,led,adc,settings-read,settings-write,temperature,pump,log-read,blink" {
		t.Fatalf("Names %s", got)
	}
	if m.All() != tasks.AllBuiltin|1<<16|1<<17|1<<20|1<<31 {
		t.Fatalf("All %#x", m.All())
	}
	for name, bit := range map[string]tasks.Task{"temperature": 16, "led": 3, "bit18": 18, "bit5": 5, "blink": 31} {
		if got, ok := m.Lookup(name); !ok || got != bit {
			t.Errorf("Lookup(%s) = %d %v", name, got, ok)
		}
	}
	for _, name := range []string{"bit9", "bit32", "nope", "bit"} {
		if _, ok := m.Lookup(name); ok {
			t.Errorf("Lookup(%s) ok", name)
		}
	}
	ts, err := m.ParseTasks("temperature,adc,bit18")
	if err != nil || ts != 1<<16|1<<4|1<<18 {
		t.Fatalf("ParseTasks %#x %v", ts, err)
	}
	if got := strings.Join(m.TaskNames(ts), ","); got != "adc,temperature,bit18" {
		t.Fatalf("TaskNames %s", got)
	}
	if _, err := m.ParseTasks("temperature,reboot"); err == nil || !strings.Contains(err.Error(), "settings-write, temperature, pump, log-read, blink, or all") {
		t.Fatalf("ParseTasks error %v", err)
	}
	if all, _ := m.ParseTasks("all"); all != m.All() {
		t.Fatalf("all = %#x", all)
	}
	// A nil map knows the built-ins only, and bitN.
	var none *tasks.Map
	if none.Name(16) != "bit16" || none.All() != tasks.AllBuiltin || len(none.AppTasks()) != 0 {
		t.Fatal("nil map")
	}
	if ts, err := tasks.ParseTasks("led,bit16"); err != nil || ts != 1<<3|1<<16 {
		t.Fatalf("ParseTasks bit16: %#x %v", ts, err)
	}
}

func TestParseTaskMapDefaults(t *testing.T) {
	m, err := tasks.ParseMap(strings.NewReader("16 a args=u8,u8 result=u16\n17 b result=u8,i8:x,u8\n"), "m")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.App(16)
	b, _ := m.App(17)
	labels := func(f []tasks.FieldSpec) (s []string) {
		for _, x := range f {
			s = append(s, x.Label)
		}
		return s
	}
	if got := labels(a.Args); !reflect.DeepEqual(got, []string{"arg_1", "arg_2"}) {
		t.Errorf("args %v", got)
	}
	if got := labels(a.Result); !reflect.DeepEqual(got, []string{"value"}) {
		t.Errorf("result %v", got)
	}
	if got := labels(b.Result); !reflect.DeepEqual(got, []string{"value_1", "x", "value_3"}) {
		t.Errorf("result %v", got)
	}
}

func TestParseTaskMapErrors(t *testing.T) {
	long := strings.Repeat("a", tasks.MaxNameLen+1)
	tests := []struct {
		name, in, want string
	}{
		{"reserved bit", "5 mine", "m:1: bit 5 is reserved for built-in tasks (application tasks are 16..31)"},
		{"bit 15", "15 mine", "bit 15 is reserved"},
		{"bit 32", "32 mine", `m:1: bad task bit "32"`},
		{"bit not a number", "x mine", `bad task bit "x"`},
		{"no name", "16", "want BIT NAME"},
		{"duplicate bit", "16 a\n\n16 b", `m:3: bit 16 is already task "a" (line 1)`},
		{"duplicate name", "# c\n16 a\n17 a", `m:3: task name "a" is already used (line 2)`},
		{"built-in name", "16 adc", `task name "adc" is taken by mstool`},
		{"all", "16 all", `"all" is taken`},
		{"bitN name", "16 bit17", `"bit17" is taken`},
		{"uppercase", "16 Temp", `bad task name "Temp"`},
		{"underscore name", "16 a_b", `bad task name "a_b"`},
		{"leading digit", "16 1a", `bad task name "1a"`},
		{"overlong name", "16 " + long, "longer than 32 bytes"},
		{"overlong label", "16 a result=u8:" + long, "longer than 32 bytes"},
		{"overlong line", "16 a # " + strings.Repeat("x", tasks.MaxMapLine), "m:1: line longer than 512 bytes"},
		{"overlong line later", "16 a\n17 b " + strings.Repeat("x", 2*tasks.MaxMapLine), "m:2: line longer than 512 bytes"},
		{"bad type", "16 a args=u64", `args: unknown type "u64"`},
		{"bad type case", "16 a result=U8", `result: unknown type "U8"`},
		{"bytes not last", "16 a args=bytes,u8", "only the last field may be bytes"},
		{"empty list", "16 a args=", "args= lists no fields"},
		{"empty field", "16 a args=u8,", `unknown type ""`},
		{"twice", "16 a args=u8 args=u8", "args= given twice"},
		{"read-only twice", "16 a read-only result=u8 read-only", "read-only given twice"},
		{"read-only with a value", "16 a read-only=1", `unexpected "read-only=1"`},
		{"unknown key", "16 a reply=u8", `unexpected "reply=u8"`},
		{"stray word", "16 a b", `unexpected "b"`},
		{"duplicate label", "16 a result=u8:x,u8:x", `result: label "x" used twice`},
		{"default label clash", "16 a result=u8:value_2,u8", `label "value_2" used twice`},
		{"extra label", "16 a result=u8:extra", `"extra" is reserved`},
		{"bad label", "16 a args=u8:Sensor", `bad args label "Sensor"`},
		{"empty label", "16 a args=u8:", "empty args label"},
		{"version", "mstool-task-map 2\n16 a", `m:1: unsupported task map version "2"`},
		{"version missing", "mstool-task-map", "unsupported task map version"},
		{"late header", "16 a\nmstool-task-map 1", "m:2: the mstool-task-map header must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tasks.ParseMap(strings.NewReader(tt.in), "m")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			var te *tasks.MapError
			if !errors.As(err, &te) || te.File != "m" {
				t.Fatalf("not a *TaskMapError: %T", err)
			}
		})
	}
}
