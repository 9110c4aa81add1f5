package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/keyfile"
	"github.com/mstool/mstool/pkg/tasks"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.psk"), []byte("0x000102030405060708090a0b0c0d0e0f\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "open.psk"), []byte("000102030405060708090a0b0c0d0e0f\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "short.psk"), []byte("0001020304050607\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pump.tasks"), []byte("16 pump-speed args=u8:pump,u16:rpm result=u16:rpm\n"), 0o644)

	good := `# a comment
mstool-gateway 1
listen 127.0.0.1:5684
plain 127.0.0.1:5683 identity=a
device d1 port=/dev/ttyACM0 esp=d1.sa reset=never
device d2 udp=192.0.2.7:4500 esp=/abs/d2.sa queue=3 timeout=500ms retries=0 task-map=pump.tasks
device d3 port=tty3 mssl=d3.grant device-ip=10.0.0.3
identity a psk=a.psk tasks=all
identity b psk=a.psk tasks=id,pump-speed devices=d2
`
	c, err := ParseConfig(strings.NewReader(good), "gw.conf", dir)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2, d3 := c.Device("d1"), c.Device("d2"), c.Device("d3")
	if c.Listen != "127.0.0.1:5684" || c.Plain != "127.0.0.1:5683" || c.PlainIdentity != "a" ||
		d1.Leg != LegESP || d1.SAFile != filepath.Join(dir, "d1.sa") || d1.Queue != DefaultQueue ||
		d2.SAFile != "/abs/d2.sa" || d2.Queue != 3 || d2.Timeout.String() != "500ms" || d2.Map == nil ||
		d3.Leg != LegMSSL || d3.HostKey != filepath.Join(dir, "d3.hostkey") || d3.Port != filepath.Join(dir, "tty3") {
		t.Fatalf("%+v %+v %+v %+v", c, d1, d2, d3)
	}
	pump, _ := d2.Map.Lookup("pump-speed")
	a, b := c.Identity("a"), c.Identity("b")
	if len(a.PSK) != 16 || a.Tasks["d1"] != tasks.AllBuiltin || !a.Tasks["d2"].Has(pump) ||
		len(b.Tasks) != 1 || !b.Tasks["d2"].Has(pump) || !b.Tasks["d2"].Has(tasks.TaskID) || b.Tasks["d2"].Has(tasks.TaskADC) {
		t.Fatalf("identities: %+v %+v", a, b)
	}

	const dev = "device d1 port=/dev/ttyACM0 esp=d1.sa\n"
	const id = "identity a psk=a.psk tasks=id\n"
	for _, tc := range []struct{ text, want string }{
		{"mstool-gateway 2\n" + dev + id, "unsupported version"},
		{dev + "mstool-gateway 1\n" + id, "must be the first line"},
		{dev + id + "frobnicate x\n", `unknown statement "frobnicate"`},
		{dev + id + "listen\n", "listen takes one address"},
		{id, "no device lines"},
		{dev, "no identity lines"},
		{dev + dev + id, `device "d1" is already defined`},
		{"device d/1 port=x esp=y\n" + id, "device name"},
		{"device d1 esp=y\n" + id, "exactly one of port=PATH and udp=HOST:PORT"},
		{"device d1 port=x udp=y:1 esp=y\n" + id, "exactly one of port=PATH"},
		{"device d1 port=x\n" + id, "exactly one of esp=SAFILE and mssl=GRANT"},
		{"device d1 port=x esp=y mssl=z\n" + id, "exactly one of esp=SAFILE and mssl=GRANT"},
		{"device d1 port=x mssl=z\n" + id, "needs device-ip"},
		{"device d1 port=x mssl=z device-ip=fe80::1\n" + id, "not an IPv4 address"},
		{"device d1 port=x esp=y host-key=k\n" + id, "host-key goes with mssl"},
		{"device d1 port=x esp=y queue=0\n" + id, "queue"},
		{"device d1 port=x esp=y timeout=2h\n" + id, "timeout"},
		{"device d1 port=x esp=y retries=-1\n" + id, "retries"},
		{"device d1 udp=x:1 esp=y reset=never\n" + id, "reset= goes with port"},
		{"device d1 port=x esp=y reset=maybe\n" + id, "reset"},
		{"device d1 port=x esp=y color=red\n" + id, `unknown key "color"`},
		{"device d1 port=x esp=y task-map=none.tasks\n" + id, "none.tasks"},
		{dev + "identity a psk=a.psk\n", "needs tasks=LIST and at least one of psk=FILE"},
		{dev + "identity a psk=a.psk tasks=fly\n", `unknown task "fly"`},
		{dev + "identity a psk=a.psk tasks=id devices=d9\n", `unknown device "d9"`},
		{dev + id + id, `identity "a" is already defined`},
		{dev + "identity a psk=short.psk tasks=id\n", "a key of 8 bytes"},
		{dev + "identity a psk=d1.sa tasks=id\n", "no such file"},
		{dev + id + "plain 127.0.0.1:5683\n", "plain needs identity=NAME"},
		{dev + id + "plain 127.0.0.1:5683 identity=z\n", `unknown identity "z"`},
		{dev + id + strings.Repeat("#", MaxConfigLine+1) + "\n", "line longer than"},
	} {
		_, err := ParseConfig(strings.NewReader(tc.text), "gw.conf", dir)
		var ce *ConfigError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a *ConfigError with %q", tc.text, err, tc.want)
		}
	}
	_, err = ParseConfig(strings.NewReader(dev+"identity a psk=open.psk tasks=id\n"), "gw.conf", dir)
	var ie *keyfile.InsecureError
	if !errors.As(err, &ie) {
		t.Errorf("a PSK file others can read: %v", err)
	}
}

func TestArgWords(t *testing.T) {
	names := []string{"index", "value"}
	for _, tc := range []struct {
		query   []string
		payload string
		f       Format
		want    string // words joined, or "error: ..."
	}{
		{[]string{"index=1", "value=2"}, "", FormatNone, "1 2"},
		{[]string{"value=2", "index=1"}, "", FormatNone, "1 2"},
		{[]string{"index=1"}, "2", FormatText, "1 2"},
		{nil, "1 2", FormatNone, "1 2"},
		{[]string{"1"}, "2", FormatNone, "1 2"},
		{nil, `{"index":1,"value":"0x10"}`, FormatJSON, "1 0x10"},
		{[]string{"index=1"}, "", FormatNone, "1"},
		{nil, "", FormatNone, ""},
		{[]string{"value=2"}, "", FormatNone, "error: argument index missing"},
		{[]string{"index=1", "index=2"}, "", FormatNone, "error: index given twice"},
		{[]string{"x=1"}, "", FormatNone, `error: unknown argument "x"`},
		{nil, "1 2 3", FormatNone, "error: too many arguments"},
		{nil, `[1]`, FormatJSON, "error: the JSON payload is not an object"},
		// A JSON argument given twice is refused like a query parameter
		// given twice, not silently the last one.
		{nil, `{"index":0,"value":7,"index":1}`, FormatJSON, "error: index given twice"},
		{nil, `{"index":1}{"value":2}`, FormatJSON, "error: the JSON payload is not an object of arguments: data after the object"},
		{nil, `{"index":1,}`, FormatJSON, "error: the JSON payload is not an object"},
		{[]string{"index=1"}, `{"index":1}`, FormatJSON, "error: index given twice"},
		{nil, `{"index":[1]}`, FormatJSON, "error: argument index: want a string or a number"},
		{nil, "x", Format(42), "error: unsupported payload format"},
	} {
		w, err := argWords(names, tc.query, []byte(tc.payload), tc.f)
		got := strings.Join(w, " ")
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q %q: %q, want %q", tc.query, tc.payload, got, tc.want)
		}
	}
	if _, err := argWords(nil, []string{"a=1"}, nil, FormatNone); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
		t.Errorf("no arguments: %v", err)
	}
}
