package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testMap(t *testing.T) *Map {
	t.Helper()
	m, err := ParseMap(strings.NewReader(`mstool-task-map 1
16 temperature args=u8:sensor result=i16:centi-celsius
17 pump args=u8:state,u16:seconds
18 write-log args=u16:offset,bytes:data result=u32:written
`), "test.map")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCodecArgs(t *testing.T) {
	c := Codec{Map: testMap(t)}
	for _, tc := range []struct {
		task  string
		words []string
		want  []byte
		err   string
	}{
		{"temperature", []string{"3"}, []byte{3}, ""},
		{"temperature", []string{"0xff"}, []byte{0xff}, ""},
		{"temperature", []string{"256"}, nil, `tasks: temperature: sensor: bad u8 "256" (0..255)`},
		{"temperature", nil, nil, "tasks: temperature takes SENSOR (u8)"},
		{"pump", []string{"1"}, nil, "tasks: pump takes STATE (u8) SECONDS (u16)"},
		{"pump", []string{"1", "65535"}, []byte{1, 0xff, 0xff}, ""},
		{"pump", []string{"1", "-1"}, nil, `seconds: bad u16 "-1"`},
		{"write-log", []string{"0x0102", "cafe"}, []byte{1, 2, 0xca, 0xfe}, ""},
		{"write-log", []string{"7"}, []byte{0, 7}, ""},
		{"write-log", []string{"7", "xyz"}, nil, `data: "xyz" is not hex bytes`},
		{"bit20", []string{"01", "0203"}, []byte{1, 2, 3}, ""},
		{"20", nil, nil, ""},
		{"bit20", []string{"zz"}, nil, "tasks: bit20: arguments are hex bytes"},
		{"adc", []string{"3"}, []byte{3}, ""},
		{"adc", []string{"9"}, nil, "bad channel"},
	} {
		task, err := c.Lookup(tc.task)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ParseArgs(task, tc.words)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: %v, want %q", tc.task, tc.words, err, tc.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s %v: %x %v, want %x", tc.task, tc.words, got, err, tc.want)
		}
	}
	if _, err := c.Lookup("reboot"); err == nil || !strings.Contains(err.Error(), "settings-write, temperature, pump, write-log") {
		t.Fatalf("Lookup: %v", err)
	}
	if u := c.Usage(18); u != "OFFSET (u16) [DATA (hex)]" {
		t.Fatalf("usage %q", u)
	}
	if u := c.Usage(25); u != "[HEX...]" {
		t.Fatalf("usage %q", u)
	}
}

// EncodeFields and DecodeFields are inverses for every type and its
// extremes.
func TestFieldsRoundTrip(t *testing.T) {
	all := []FieldSpec{
		{Type: FieldU8, Label: "a"}, {Type: FieldU16, Label: "b"}, {Type: FieldU32, Label: "c"},
		{Type: FieldI8, Label: "d"}, {Type: FieldI16, Label: "e"}, {Type: FieldI32, Label: "f"},
		{Type: FieldBytes, Label: "g"},
	}
	for _, words := range [][]string{
		{"0", "0", "0", "0", "0", "0", ""},
		{"255", "65535", "4294967295", "-128", "-32768", "-2147483648", "00ff"},
		{"1", "2", "3", "127", "32767", "2147483647", "deadbeef"},
		{"7", "300", "70000", "-1", "-2", "-3", "01"},
	} {
		b, err := EncodeFields(all, words)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 1+2+4+1+2+4+len(words[6])/2 {
			t.Fatalf("%v: %d bytes", words, len(b))
		}
		f, err := DecodeFields(all, b)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range f {
			if got := fmt.Sprint(x.Value); x.Name != all[i].Label || got != words[i] {
				t.Errorf("field %d: %s=%s, want %s=%s", i, x.Name, got, all[i].Label, words[i])
			}
		}
	}
	for _, bad := range [][]string{
		{"256", "0", "0", "0", "0", "0"}, {"0", "65536", "0", "0", "0", "0"}, {"0", "0", "4294967296", "0", "0", "0"},
		{"0", "0", "0", "128", "0", "0"}, {"0", "0", "0", "0", "-32769", "0"}, {"0", "0", "0", "0", "0", "2147483648"},
		{"0", "0", "0", "0", "0", "0", "abc"}, {"x", "0", "0", "0", "0", "0"}, {"0"},
	} {
		if _, err := EncodeFields(all, bad); err == nil {
			t.Errorf("%v encoded", bad)
		}
	}
}

func TestCodecResult(t *testing.T) {
	c := Codec{Map: testMap(t)}
	r := c.NewResult(16, 9, StatusOK, []byte{0xf8, 0x30}) // -2000
	if r.Task != "temperature" || r.DecodeError != "" || r.Result["centi-celsius"] != int64(-2000) {
		t.Fatalf("%+v", r)
	}
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"task":"temperature","id":9,"status":"ok","status_code":0,"allowed":true,"result":{"centi-celsius":-2000},"raw":"f830","transport":"","rtt_ms":0,"attempts":0}`
	if string(j) != want {
		t.Fatalf("json\n%s\nwant\n%s", j, want)
	}
	// Extra bytes, a short result, a task without a map entry, denied.
	if r := c.NewResult(16, 1, StatusOK, []byte{0, 1, 2}); r.Result["extra"] != "02" || r.Result["centi-celsius"] != int64(1) {
		t.Fatalf("extra: %+v", r)
	}
	if r := c.NewResult(16, 1, StatusOK, []byte{0}); r.Result != nil || !strings.Contains(r.DecodeError, "temperature: result of 1 bytes, want at least 2") {
		t.Fatalf("short: %+v", r)
	}
	if _, err := c.Decode(16, []byte{0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: %v", err)
	}
	if r := c.NewResult(17, 1, StatusOK, nil); r.Task != "pump" || len(r.Result) != 0 || r.DecodeError != "" {
		t.Fatalf("no result: %+v", r)
	}
	if r := (Codec{}).NewResult(16, 1, StatusOK, []byte{0xf8, 0x30}); r.Task != "bit16" || r.Result["extra"] != "f830" {
		t.Fatalf("raw: %+v", r)
	}
	if r := c.NewResult(18, 1, StatusDenied, nil); r.Task != "write-log" || r.Allowed {
		t.Fatalf("denied: %+v", r)
	}
}

func TestCodecHelpComplete(t *testing.T) {
	c := Codec{Map: testMap(t)}
	for _, tc := range []struct {
		task Task
		want string
	}{
		{TaskLED, Help[TaskLED]},
		{16, "application task (bit 16); result: centi-celsius (i16)"},
		{17, "application task (bit 17)"},
		{20, "application task (bit 20), not in the task map"},
	} {
		if got := c.Help(tc.task); got != tc.want {
			t.Errorf("Help(%d) = %q, want %q", tc.task, got, tc.want)
		}
	}
	if got := fmt.Sprint(c.Complete(TaskLED, nil)); got != "[off on read toggle]" {
		t.Errorf("Complete(led) = %s", got)
	}
	if got := c.Complete(16, nil); got != nil {
		t.Errorf("Complete(temperature) = %q, want nil", got)
	}
}
