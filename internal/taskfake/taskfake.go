// Package taskfake is the one in-memory stand-in for the device's task
// service (docs/tasks.md) that tests share: the fake ESP device of
// pkg/link/linktest and the MSSL test helpers of pkg/mssl/mssltest. It
// checks arguments as the firmware's tasks.c does.
package taskfake

import (
	"encoding/binary"
	"sync"

	"github.com/mstool/mstool/pkg/tasks"
)

// Service is a device task service in memory. The zero value serves,
// with device id 0, MCU byte 0, uptime 42 s and zero counters.
type Service struct {
	mu       sync.Mutex
	DeviceID uint32
	MCU      byte            // the last byte of the id reply (hw_mcu)
	Uptime   func() uint32   // seconds since boot; nil: 42
	Counters func() []uint32 // the counters task; nil: all zero
	LED      bool
	Settings [2]uint16
	Served   int
}

// argCount is how many argument bytes each built-in task takes.
var argCount = map[tasks.Task]int{
	tasks.TaskID: 0, tasks.TaskUptime: 0, tasks.TaskCounters: 0, tasks.TaskLED: 1,
	tasks.TaskADC: 1, tasks.TaskSettingsRead: 1, tasks.TaskSettingsWrite: 3,
}

// Run serves one task (an mssl.TaskFunc).
func (s *Service) Run(t tasks.Task, args []byte) (tasks.Status, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Served++
	n, known := argCount[t]
	if !known {
		return tasks.StatusUnknownTask, nil
	}
	if len(args) != n {
		return tasks.StatusBadArgs, nil
	}
	switch t {
	case tasks.TaskID:
		r := binary.BigEndian.AppendUint32(nil, s.DeviceID)
		return tasks.StatusOK, append(r, 0, 1, 1, s.MCU)
	case tasks.TaskUptime:
		up := uint32(42)
		if s.Uptime != nil {
			up = s.Uptime()
		}
		return tasks.StatusOK, append(binary.BigEndian.AppendUint32(nil, up), 0, 1)
	case tasks.TaskCounters:
		if s.Counters == nil {
			return tasks.StatusOK, make([]byte, 4*len(tasks.CounterNames))
		}
		var r []byte
		for _, c := range s.Counters() {
			r = binary.BigEndian.AppendUint32(r, c)
		}
		return tasks.StatusOK, r
	case tasks.TaskLED:
		switch args[0] {
		case 0:
			s.LED = false
		case 1:
			s.LED = true
		case 2:
			s.LED = !s.LED
		case 3:
		default:
			return tasks.StatusBadArgs, nil
		}
		if s.LED {
			return tasks.StatusOK, []byte{1}
		}
		return tasks.StatusOK, []byte{0}
	case tasks.TaskADC:
		if args[0] > 7 {
			return tasks.StatusBadArgs, nil
		}
		return tasks.StatusOK, []byte{0x02, args[0]}
	case tasks.TaskSettingsRead:
		if args[0] > 1 {
			return tasks.StatusBadArgs, nil
		}
		return tasks.StatusOK, binary.BigEndian.AppendUint16(nil, s.Settings[args[0]])
	default: // tasks.TaskSettingsWrite
		if args[0] > 1 {
			return tasks.StatusBadArgs, nil
		}
		s.Settings[args[0]] = binary.BigEndian.Uint16(args[1:])
		return tasks.StatusOK, args[1:3]
	}
}
