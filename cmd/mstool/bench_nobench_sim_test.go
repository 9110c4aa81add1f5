package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/sim"
)

// TestBenchWithoutEngineeringCommands runs 'mstool bench' against make's
// nobench image (CONFIG_MGMT_CRYPTO=0: no BENCH, COMPUTE or RSA): it
// must fail with an error that says the firmware was built without the
// engineering commands, not with a generic refusal.
func TestBenchWithoutEngineeringCommands(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/nobench/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	d, err := sim.Start(context.Background(), sim.Options{Harness: harness, Firmware: elf})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	var stdout, stderr bytes.Buffer
	code := run([]string{"mstool", "bench", "--port", d.Port, "--reps", "1"}, nil, &stdout, &stderr)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"no engineering commands", "CONFIG_MGMT_CRYPTO=0"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
}
