package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/internal/testenv/cyclebase"
	"github.com/mstool/mstool/pkg/bench"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/sim"
)

// TestDeviceCycles runs the whole bench plan on the reference ATmega328P
// image and holds every primitive to its recorded cycle figure
// (firmware/tests/cycles/bench.json, +2 % at most): the crypto core's
// table in docs/PERFORMANCE.md cannot get slower unnoticed.
func TestDeviceCycles(t *testing.T) {
	elf := testenv.Artifact(t, "firmware/build/atmega328p/mstool.elf", "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sim.Start(ctx, sim.Options{Harness: harness, Firmware: elf, MCU: "atmega328p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	d, err := device.Open(s.Port, &device.Options{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := d.Identify(ctx)
	if err != nil {
		t.Fatalf("identify: %v", err)
	}
	plan := bench.Plan(info)
	rows, err := bench.RunDevice(ctx, d, info.FCPU, plan, bench.DefaultReps, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(plan) || len(plan) < 13 {
		t.Fatalf("%d rows of a %d-item plan (the reference image benches 13 primitives)", len(rows), len(plan))
	}
	figures := cyclebase.Load(t, "bench")
	for _, r := range rows {
		figures.Check(fmt.Sprintf("atmega328p/%s/%d", r.Primitive, r.Bytes), uint64(r.Cycles))
	}
}
