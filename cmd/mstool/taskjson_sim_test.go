package main

// --json conventions shared by ESP and MSSL (docs/json.md): one task-result
// schema for 'esp exec' and 'mssl exec', JSON lines for streams, errors as
// one JSON object. Against the simulated device running the reference
// firmware, which speaks both (it needs 'make firmware').

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/mstool/mstool/pkg/sim"
)

// jsonKeys returns the sorted keys of a JSON object.
func jsonKeys(t *testing.T, doc string) ([]string, map[string]any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, doc)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, m
}

// jsonLines parses every line of out as one JSON object.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON lines (%v):\n%s", err, out)
		}
		objs = append(objs, m)
	}
	return objs
}

func TestTaskResultJSONSameForESPAndMSSL(t *testing.T) {
	s := provisionedSim(t, "aes128-ccm8")
	s.stop(t)
	p := func(name string) string { return filepath.Join(s.dir, name) }
	mustRun(t, "keygen", "owner", "-o", p("owner.pem"), "--bits", "1024")
	mustRun(t, "grant", "sign", "--key", p("owner.pem"), "--device", s.key, "--host-ip", simHost,
		"--tasks", "led,adc,uptime", "--serial", "5", "--valid-for", "720h", "-o", p("alice"))
	mustRun(t, "--quiet", "provision", "-d", s.key, "--ip", simDevA, "--sa", s.sa, "--issuer", p("owner.pem"), "-o", p("both.hex"))
	var err error
	if s.eep, _, err = sim.PrepareEEPROM(p("both.hex"), s.mcu); err != nil {
		t.Fatal(err)
	}
	s.start(t)

	espExec := func(args ...string) (string, string, int) {
		return mstoolRun(t, append([]string{"--json", "esp", "exec", "--port", s.port(), "--sa", s.sa, "--timeout", "5s"}, args...)...)
	}
	msslExec := func(args ...string) (string, string, int) {
		return mstoolRun(t, append([]string{"--json", "mssl", "exec", "--port", s.port(), "--device-ip", simDevA,
			"--grant", p("alice.grant"), "--timeout", "5s"}, args...)...)
	}
	var okKeys []string
	for _, task := range [][]string{{"led", "on"}, {"adc", "3"}, {"uptime"}} {
		eo, ee, ec := espExec(task...)
		mo, me, mc := msslExec(task...)
		if ec != 0 || mc != 0 {
			t.Fatalf("%v: esp exit %d, mssl exit %d\n%s%s%s%s", task, ec, mc, eo, ee, mo, me)
		}
		ek, em := jsonKeys(t, eo)
		mk, mm := jsonKeys(t, mo)
		if !reflect.DeepEqual(ek, mk) {
			t.Errorf("%v: esp exec and mssl exec print different fields:\nesp  %v\nmssl %v", task, ek, mk)
		}
		okKeys = ek
		for _, k := range []string{"task", "status", "status_code", "allowed"} {
			if !reflect.DeepEqual(em[k], mm[k]) {
				t.Errorf("%v: %s: esp %v, mssl %v", task, k, em[k], mm[k])
			}
		}
		er, _ := em["result"].(map[string]any)
		mr, _ := mm["result"].(map[string]any)
		if er == nil || mr == nil || len(er) != len(mr) {
			t.Errorf("%v: result: esp %v, mssl %v", task, em["result"], mm["result"])
		}
		if em["transport"] != "esp" || mm["transport"] != "mssl" {
			t.Errorf("%v: transport: esp %v, mssl %v", task, em["transport"], mm["transport"])
		}
	}
	// A denied task is a result too (exit 4), with the same fields, and
	// the error follows as one JSON object on stderr.
	mo, me, mc := msslExec("id")
	if mc != exitAuth {
		t.Fatalf("id over MSSL: exit %d\n%s%s", mc, mo, me)
	}
	if k, m := jsonKeys(t, mo); !reflect.DeepEqual(k, okKeys) || m["status"] != "denied" || m["allowed"] != false {
		t.Errorf("denied task: %v\n%s", k, mo)
	}
	errLines := strings.Split(strings.TrimRight(me, "\n"), "\n")
	_, em := jsonKeys(t, errLines[len(errLines)-1])
	if em["exit"] != float64(exitAuth) || !strings.Contains(em["error"].(string), "denied") || em["hint"] == "" {
		t.Errorf("error object: %v", em)
	}

	// A stream: esp ping --json prints one object per reply, then the
	// summary, one per line.
	out := mustRun(t, "--json", "esp", "ping", "-p", s.port(), "--sa", s.sa, "-c", "2", "--interval", "0")
	objs := jsonLines(t, out)
	if len(objs) != 3 || objs[0]["type"] != "reply" || objs[1]["type"] != "reply" || objs[2]["type"] != "summary" ||
		objs[2]["received"] != float64(2) {
		t.Errorf("esp ping --json:\n%s", out)
	}

	// The ESP shell with --json: one result line per task, same schema.
	out, errs, code := mstoolRunStdin(t, "led on\nadc 3\nfly\n", "--json", "esp", "shell", "-p", s.port(), "--sa", s.sa)
	objs = jsonLines(t, out)
	if len(objs) != 2 || objs[0]["task"] != "led" || objs[1]["task"] != "adc" {
		t.Errorf("esp shell --json: exit %d\n%s%s", code, out, errs)
	}
	for _, o := range objs {
		b, _ := json.Marshal(o)
		if k, _ := jsonKeys(t, string(b)); !reflect.DeepEqual(k, okKeys) {
			t.Errorf("esp shell result fields %v, want %v", k, okKeys)
		}
	}
}

// mstoolRunStdin is mstoolRun with stdin.
func mstoolRunStdin(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb strings.Builder
	code := run(append([]string{"mstool"}, args...), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// lastLine is the last line of JSON lines (a stream's summary).
func lastLine(out string) string {
	out = strings.TrimRight(out, "\n")
	return out[strings.LastIndex(out, "\n")+1:]
}
