package espsession

import (
	"testing"

	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/esp"
	"github.com/mstool/mstool/pkg/tasks"
)

// TestUnsent: the device's STATUS says it took the session's last packet
// and sent nothing back only when every part holds: our SA, our number
// seen, a packet of our length dropped, and not_answered counted.
func TestUnsent(t *testing.T) {
	s := &Session{outSA: &esp.SA{SPI: 7}, lastSeq: 5, lastLen: 100}
	took := func() *device.Status {
		st := &device.Status{InSPI: 7, InHighest: 5, LastResult: 1, LastLength: 100,
			Counters: make([]uint32, len(tasks.CounterNames))}
		st.Counters[tasks.CounterNotAnswered] = 1
		return st
	}
	if !s.unsent(took()) {
		t.Fatal("a taken, unanswered request not recognised")
	}
	for name, change := range map[string]func(*device.Status){
		"another SA":           func(st *device.Status) { st.InSPI = 8 },
		"number not seen":      func(st *device.Status) { st.InHighest = 4 },
		"a stale state":        func(st *device.Status) { st.InHighest = 900 }, // ours dropped as a replay
		"answered":             func(st *device.Status) { st.LastResult = 0 },
		"another packet":       func(st *device.Status) { st.LastLength = 99 },
		"nothing not answered": func(st *device.Status) { st.Counters[tasks.CounterNotAnswered] = 0 },
		"no counters":          func(st *device.Status) { st.Counters = nil },
	} {
		st := took()
		change(st)
		if s.unsent(st) {
			t.Errorf("%s: taken for an unanswered request", name)
		}
	}
	if (&Session{outSA: &esp.SA{SPI: 7}}).unsent(took()) {
		t.Error("a session that sent nothing has no unanswered request")
	}
	if tasks.CounterNames[tasks.CounterNotAnswered] != "not_answered" {
		t.Error("CounterNotAnswered does not index not_answered")
	}
}
