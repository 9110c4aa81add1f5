package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

// TestBenchJSONOnSim runs 'mstool bench --port <pty> --json' against the
// simulated device and checks that the output parses and is complete.
func TestBenchJSONOnSim(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	d, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	var stdout, stderr bytes.Buffer
	code := run([]string{"mstool", "--json", "bench", "--port", d.Port, "--elf", elf, "--reps", "1"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout.String())
	}
	if rep.Device == nil || rep.Device.MCU != "atmega328p" || rep.Device.FCPU != 16000000 {
		t.Fatalf("device = %+v", rep.Device)
	}
	if len(rep.Results) < 10 {
		t.Fatalf("%d results, want every primitive", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Cycles == 0 || r.Bytes == 0 || r.KBps <= 0 || r.ContextRAM == 0 {
			t.Errorf("implausible row %+v", r)
		}
	}
	if !bytes.Contains(stderr.Bytes(), []byte("[1/")) {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}

	// A port that does not exist is a link error (exit 3) with a hint.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"mstool", "bench", "--port", d.Port + "-missing"}, nil, &stdout, &stderr); code != exitLink {
		t.Fatalf("missing port: exit %d, want %d; stderr:\n%s", code, exitLink, stderr.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte("hint:")) {
		t.Errorf("no hint for a missing port:\n%s", stderr.String())
	}
}
