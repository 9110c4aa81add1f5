package tasks

import (
	"fmt"
	"math/bits"
	"strings"
)

// Task is a device task a grant can permit, identified by its bit number in
// the grant's 32-bit task set. The numbering is part of the wire format and
// is shared with the firmware's task interpreter: never renumber a task,
// only append new ones.
type Task uint8

// The registry of device tasks. The firmware checks bit Task of the grant's
// task set before it runs a task for the grant's host.
const (
	TaskID            Task = 0 // read the device id and firmware version
	TaskUptime        Task = 1 // read the uptime counter
	TaskCounters      Task = 2 // read the packet and drop counters
	TaskLED           Task = 3 // switch the LED
	TaskADC           Task = 4 // read an ADC channel
	TaskSettingsRead  Task = 5 // read the EEPROM-backed settings
	TaskSettingsWrite Task = 6 // change the EEPROM-backed settings
)

// taskNames maps a task's bit number to its name; names are lowercase and
// used on the command line and in JSON.
var taskNames = [...]string{
	TaskID:            "id",
	TaskUptime:        "uptime",
	TaskCounters:      "counters",
	TaskLED:           "led",
	TaskADC:           "adc",
	TaskSettingsRead:  "settings-read",
	TaskSettingsWrite: "settings-write",
}

// NumBuiltin is the number of tasks in the registry (bits 0..NumBuiltin-1).
const NumBuiltin = len(taskNames)

// AllBuiltin is the task set holding every task in the registry.
const AllBuiltin Set = 1<<NumBuiltin - 1

// BuiltinNames returns the names of all tasks, in bit order.
func BuiltinNames() []string {
	out := make([]string, NumBuiltin)
	copy(out, taskNames[:])
	return out
}

// String returns the task's name, or "bitN" for a bit not in the registry.
func (t Task) String() string {
	if int(t) < NumBuiltin {
		return taskNames[t]
	}
	return fmt.Sprintf("bit%d", t)
}

// LookupBuiltin returns the task with the given name.
func LookupBuiltin(name string) (Task, bool) {
	for i, n := range taskNames {
		if n == name {
			return Task(i), true
		}
	}
	return 0, false
}

// Set is a set of tasks: bit i set means Task(i) is permitted. On the wire
// it is a big-endian uint32.
type Set uint32

// Has reports whether t permits task.
func (t Set) Has(task Task) bool { return task < 32 && t&(1<<task) != 0 }

// Names returns the names of the tasks in t, in bit order; bits outside the
// registry are named "bitN".
func (t Set) Names() []string {
	out := make([]string, 0, bits.OnesCount32(uint32(t)))
	for i := 0; i < 32; i++ {
		if t&(1<<i) != 0 {
			out = append(out, Task(i).String())
		}
	}
	return out
}

// String returns the task names joined by commas, as ParseTasks reads them.
func (t Set) String() string { return strings.Join(t.Names(), ",") }

// Unknown returns the bits of t that are reserved for built-in tasks but
// name none (NumBuiltin..15). Application bits (AppBits) are never unknown:
// the device's application decides what they mean.
func (t Set) Unknown() Set { return t &^ (AllBuiltin | AppBits) }

// ParseTasks reads a comma-separated list of task names ("led,adc"); "all"
// stands for every built-in task, and "bitN" names a built-in or
// application bit (16..31) without a task map. Spaces around names are
// ignored. The list must name at least one task. (*Map).ParseTasks
// knows an application's task names too.
func ParseTasks(s string) (Set, error) { return (*Map)(nil).ParseTasks(s) }
