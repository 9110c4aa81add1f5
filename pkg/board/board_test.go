package board

import (
	"errors"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		board string
		o     Overrides
		prog  string
		part  string
		baud  int
		isp   bool
		err   error
	}{
		{"uno", Overrides{}, "arduino", "m328p", 115200, false, nil},
		{"nano", Overrides{}, "arduino", "m328p", 57600, false, nil},
		{"nano", Overrides{MCU: "atmega168"}, "arduino", "m168", 19200, false, nil},
		{"nano-new", Overrides{}, "arduino", "m328p", 115200, false, nil},
		{"pro-mini", Overrides{}, "arduino", "m328p", 57600, false, nil},
		{"pro-mini", Overrides{MCU: "ATmega168"}, "arduino", "m168", 19200, false, nil},
		{"usbasp", Overrides{MCU: "atmega168"}, "usbasp", "m168", 0, true, nil},
		{"avrispmkii", Overrides{}, "avrispmkii", "m328p", 0, true, nil},
		{"uno", Overrides{Baud: 57600}, "arduino", "m328p", 57600, false, nil},
		{"uno", Overrides{Programmer: "usbasp"}, "usbasp", "m328p", 0, true, nil},
		{"uno", Overrides{MCU: "atmega168"}, "", "", 0, false, ErrMCU},
	}
	for _, tt := range tests {
		p, err := Lookup(tt.board)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := p.Resolve(tt.o)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s %+v: err %v, want %v", tt.board, tt.o, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if tg.Programmer != tt.prog || tg.MCU.Part != tt.part || tg.Baud != tt.baud || tg.ISP != tt.isp || tg.Serial == tt.isp {
			t.Errorf("%s %+v: got %+v", tt.board, tt.o, tg)
		}
	}
	if _, err := Lookup("leonardo"); !errors.Is(err, ErrUnknownBoard) {
		t.Errorf("Lookup(leonardo): %v", err)
	}
}

func TestCandidates(t *testing.T) {
	ports := []Reported{
		{Name: "/dev/ttyS0"}, // not USB: never picked
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "2341", PID: "0043"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "1A86", PID: "7523"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "0403", PID: "6001"},
		{Name: "/dev/ttyUSB2", IsUSB: true, VID: "0403", PID: "6010"}, // FT2232: unknown
		{Name: "/dev/ttyACM1", IsUSB: true, VID: "1d50", PID: "6089"}, // some other gadget
		{Name: "/dev/ttyUSB3", IsUSB: true, VID: "10c4", PID: "ea60"},
		{Name: "/dev/ttyACM2", IsUSB: true, VID: "2a03", PID: "0043"},
		{Name: "/dev/ttyUSB4", IsUSB: true, VID: "0403", PID: "6015"},
	}
	got := Candidates(ports)
	want := []string{"/dev/ttyACM0", "/dev/ttyACM2", "/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB3", "/dev/ttyUSB4"}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Name != want[i] || got[i].Adapter == "" {
			t.Errorf("candidate %d = %+v, want %s", i, got[i], want[i])
		}
	}
	if _, err := Choose(nil); !errors.Is(err, ErrNoPort) {
		t.Errorf("Choose(none): %v", err)
	}
	if p, err := Choose(got[:1]); err != nil || p.Name != "/dev/ttyACM0" {
		t.Errorf("Choose(one) = %v, %v", p, err)
	}
	var many *ManyPortsError
	if _, err := Choose(got); !errors.As(err, &many) || !errors.Is(err, ErrManyPorts) || len(many.Candidates) != 6 {
		t.Errorf("Choose(many): %v", err)
	}
}
