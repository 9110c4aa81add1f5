package device_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mstool/mstool/pkg/device"
)

// wdrf is MCUSR's watchdog reset flag, as STATS reports the reset cause.
const wdrf = 0x08

// TestWatchdogResetsAHungDevice runs make's fault image, whose FAULT
// command (0x7D, CONFIG_TEST_FAULT in firmware/lib/config.h) hangs the
// device: spinning with interrupts enabled (the UART still receives,
// nothing is processed), then with interrupts disabled. Each time the
// watchdog must reset the device, which then answers again and reports
// the watchdog as the reset cause. (The test waits for the device by
// retrying STATS; the watchdog's period is simulated time, so how long
// that takes on the host does not matter.)
func TestWatchdogResetsAHungDevice(t *testing.T) {
	t.Parallel()
	d, _ := startImageWith(t, "firmware/build/fault/atmega328p/mstool.elf", &device.Options{Timeout: 3 * time.Second, Retries: -1})
	ctx := context.Background()
	st, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ResetCause&wdrf != 0 {
		t.Fatalf("reset cause %#x before any fault", st.ResetCause)
	}
	for _, c := range []struct {
		name string
		op   byte
	}{{"spinning, interrupts enabled", 0}, {"spinning, interrupts disabled", 1}} {
		if _, err := d.Request(ctx, 0x7D, []byte{c.op}); !errors.Is(err, device.ErrNoAnswer) {
			t.Fatalf("%s: FAULT answered %v; is this the fault image?", c.name, err)
		}
		st = nil
		for try := 0; try < 20 && st == nil; try++ {
			st, err = d.Stats(ctx)
		}
		if st == nil {
			t.Fatalf("%s: the hung device never answered again (%v): no watchdog reset", c.name, err)
		}
		if st.ResetCause&wdrf == 0 {
			t.Errorf("%s: reset cause %#x, want the watchdog (%#x)", c.name, st.ResetCause, wdrf)
		}
		if st.FramesOK > 3 {
			t.Errorf("%s: %d frames counted since boot: the device did not reset", c.name, st.FramesOK)
		}
		if _, err := d.Identify(ctx); err != nil {
			t.Fatalf("%s: identify after the reset: %v", c.name, err)
		}
	}
}
