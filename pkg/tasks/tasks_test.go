package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestRequestReply(t *testing.T) {
	req := AppendRequest(nil, TaskSettingsWrite, 0x1234, []byte{1, 0xab, 0xcd})
	if !bytes.Equal(req, []byte{1, 6, 0x12, 0x34, 1, 0xab, 0xcd}) {
		t.Fatalf("request %x", req)
	}
	task, id, args, err := ParseRequest(req)
	if err != nil || task != TaskSettingsWrite || id != 0x1234 || !bytes.Equal(args, []byte{1, 0xab, 0xcd}) {
		t.Fatalf("parse: %v %v %v %v", task, id, args, err)
	}
	if _, _, _, err := ParseRequest(req[:3]); err == nil {
		t.Fatal("3-byte request parsed")
	}
	rep := AppendReply(nil, TaskLED, 7, StatusOK, []byte{1})
	r, err := ParseReply(rep)
	if err != nil || r.Task != TaskLED || r.ID != 7 || r.Status != StatusOK || !bytes.Equal(r.Result, []byte{1}) {
		t.Fatalf("reply %+v %v", r, err)
	}
	for _, bad := range [][]byte{
		rep[:4],
		{2, 3, 0, 7, 0, 1}, // version
		AppendReply(nil, 3, 7, StatusFailed, []byte{1}), // result with an error status
	} {
		if _, err := ParseReply(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		task  string
		words []string
		want  []byte
		ok    bool
	}{
		{"id", nil, nil, true},
		{"id", []string{"x"}, nil, false},
		{"led", []string{"toggle"}, []byte{2}, true},
		{"led", []string{"blink"}, nil, false},
		{"led", nil, []byte{3}, true}, // no argument reads the LED
		{"led", []string{"on", "off"}, nil, false},
		{"adc", []string{"7"}, []byte{7}, true},
		{"adc", []string{"8"}, nil, false},
		{"settings-read", []string{"1"}, []byte{1}, true},
		{"settings-read", []string{"2"}, nil, false},
		{"settings-write", []string{"0", "0x1234"}, []byte{0, 0x12, 0x34}, true},
		{"settings-write", []string{"0", "65536"}, nil, false},
		{"20", []string{"ab", "01"}, []byte{0xab, 1}, true},
		{"20", []string{"xyz"}, nil, false},
	} {
		task, err := Lookup(tc.task)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseArgs(task, tc.words)
		if (err == nil) != tc.ok || (tc.ok && !bytes.Equal(got, tc.want)) {
			t.Errorf("%s %q: %x %v", tc.task, tc.words, got, err)
		}
	}
	if _, err := Lookup("fly"); err == nil {
		t.Error("unknown task found")
	}
}

func TestDecode(t *testing.T) {
	f, err := Decode(TaskID, []byte{0x12, 0x34, 0x56, 0x78, 0, 2, 1, 0x11, 0xee})
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"device_id", "0x12345678"}, {"firmware", "0.2"}, {"mcu", "atmega328p"},
		{"suites", "aes128-ccm8,aes128-cbc-hmac-md5-96"}, {"extra", "ee"}}
	if len(f) != len(want) {
		t.Fatalf("%v", f)
	}
	for i := range want {
		if f[i] != want[i] {
			t.Errorf("field %d: %v, want %v", i, f[i], want[i])
		}
	}
	if _, err := Decode(TaskUptime, []byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short uptime: %v", err)
	}
	// 19 counters: the 18 this version names, and one from a newer firmware.
	c := make([]byte, 19*4)
	c[13*4+3] = 5
	f, _ = Decode(TaskCounters, c)
	if len(f) != 19 || f[13].Name != "icmp_echo_answered" || f[13].Value != uint64(5) ||
		f[16].Name != "icmp_dropped" || f[17].Name != "not_answered" || f[18].Name != "counter_18" {
		t.Errorf("counters: %v", f)
	}
	if v := Counters(c); len(v) != 19 || v[13] != 5 {
		t.Errorf("Counters: %v", v)
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		task Task
		args []string
		want string
	}{
		{TaskLED, nil, "[off on read toggle]"},
		{TaskLED, []string{"on"}, "[]"},
		{TaskADC, nil, "[0 1 2 3 4 5 6 7]"},
		{TaskSettingsWrite, nil, "[0 1]"},
		{TaskSettingsWrite, []string{"1"}, "[]"},
		{TaskID, nil, "[]"},
	} {
		if got := fmt.Sprint(Complete(tc.task, tc.args)); got != tc.want {
			t.Errorf("Complete(%s, %q) = %s, want %s", tc.task, tc.args, got, tc.want)
		}
		// Every candidate parses.
		for _, c := range Complete(tc.task, tc.args) {
			words := append(append([]string{}, tc.args...), c)
			if tc.task == TaskSettingsWrite {
				words = append(words, "1")
			}
			if _, err := ParseArgs(tc.task, words); err != nil {
				t.Errorf("%s %q: %v", tc.task, words, err)
			}
		}
	}
}
