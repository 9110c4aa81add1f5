package tasks_test

import (
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/tasks"
)

// The built-in registry: numbers and names are wire format, shared with
// the firmware (firmware/lib/ms_app.h); ParseTasks reads what String writes.
func TestRegistry(t *testing.T) {
	names := tasks.BuiltinNames()
	want := []string{"id", "uptime", "counters", "led", "adc", "settings-read", "settings-write"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("registry %v", names)
	}
	for i, n := range want {
		task, ok := tasks.LookupBuiltin(n)
		if !ok || int(task) != i || task.String() != n {
			t.Fatalf("%s -> %d %v", n, task, ok)
		}
	}
	tests := []struct {
		in   string
		want tasks.Set
		err  string
	}{
		{"led", 1 << 3, ""},
		{"led,adc", 1<<3 | 1<<4, ""},
		{" LED , adc ,", 1<<3 | 1<<4, ""},
		{"all", tasks.AllBuiltin, ""},
		{"id,all", tasks.AllBuiltin, ""},
		{"settings-write", 1 << 6, ""},
		{"", 0, "no tasks"},
		{",", 0, "no tasks"},
		{"led,reboot", 0, `unknown task "reboot" (valid tasks: id, uptime, counters, led, adc, settings-read, settings-write, or all)`},
	}
	for _, tt := range tests {
		got, err := tasks.ParseTasks(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %v %v, want %v", tt.in, got, err, tt.want)
		}
		if again, err := tasks.ParseTasks(got.String()); err != nil || again != got {
			t.Errorf("%q: String %q does not parse back", tt.in, got.String())
		}
	}
	if s := (tasks.Set(1<<3 | 1<<9)).String(); s != "led,bit9" {
		t.Fatalf("String %q", s)
	}
	if !tasks.Set(1<<3).Has(tasks.TaskLED) || tasks.Set(1<<3).Has(tasks.TaskADC) || tasks.Set(0xffffffff).Has(40) {
		t.Fatal("Has")
	}
}
