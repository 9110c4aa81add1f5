package device_test

import (
	"context"
	"testing"
	"time"

	"github.com/mstool/mstool/internal/testenv"
	"github.com/mstool/mstool/pkg/device"
	"github.com/mstool/mstool/pkg/sim"
)

// startDevice runs the real firmware on the simulated ATmega328P and opens
// its management channel. Missing build outputs fail in CI and skip
// elsewhere (testenv).
func startDevice(t *testing.T) (*device.Device, *sim.Device) {
	t.Helper()
	return startImageWith(t, "firmware/build/atmega328p/mstool.elf", nil)
}

// startImage is startDevice for another ATmega328P image of make.
func startImage(t *testing.T, rel string) *device.Device {
	t.Helper()
	d, _ := startImageWith(t, rel, nil)
	return d
}

// startImageWith runs the ATmega328P image rel (relative to the repo
// root, built by `make -C firmware`) with the given client options
// (nil: a 3 s timeout and the default retries).
func startImageWith(t *testing.T, rel string, opts *device.Options) (*device.Device, *sim.Device) {
	t.Helper()
	elf := testenv.Artifact(t, rel, "firmware")
	harness := testenv.Artifact(t, "firmware/build/mssim", "firmware")
	if opts == nil {
		opts = &device.Options{Timeout: 3 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := sim.Start(ctx, sim.Options{Harness: harness, Firmware: elf, MCU: "atmega328p", Stderr: testWriter{t}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	d, err := device.Open(s.Port, opts)
	if err != nil {
		cancel()
		s.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the simulator: %v", err)
		}
		cancel()
	})
	if _, err := d.Identify(context.Background()); err != nil {
		t.Fatalf("identify: %v", err)
	}
	return d, s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("mssim: %s", p)
	return len(p), nil
}
